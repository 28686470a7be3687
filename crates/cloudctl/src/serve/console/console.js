// drivekeep web console (served by `cloudctl serve` as /console.js).
//
// Plain script, no build step, no dependencies. Talks only to its own origin:
//   POST/GET/DELETE /api/v1/session    sign in (API key or one-time link), check, sign out
//   GET  /api/v1/storages               the cards
//   GET  /api/v1/events                 live state and login progress (EventSource, cookie)
//   POST /api/v1/storages/NAME/...      refresh, logout, login/qr, login/password
//   DELETE /api/v1/storages/NAME/login/ID   cancel a QR login
// Every state-changing request is a POST or DELETE carrying `X-Drivekeep-Console: 1`, with
// the session cookie (`credentials: "same-origin"`).
//
// Data from the server is rendered with `textContent` only. The one exception is the QR
// code: the SVG markup comes from our own server (rendered by the `qrcode` crate), is parsed
// in an inert document, stripped of anything active (scripts, event handlers, links,
// foreign content) and then inserted as nodes; see `showQr`.
(function () {
  "use strict";

  var API = "/api/v1";
  var SVG_NS = "http://www.w3.org/2000/svg";

  // Words for each `TokenState` label (`cloud_clients::TokenState::label`).
  var STATE_TEXT = {
    "valid": "logged in",
    "refreshing": "refreshing",
    "needs-login": "needs login",
    "rate-limited": "rate limited",
    "logged-out": "logged out"
  };

  // Words for each QR login status of the `login` event.
  var LOGIN_TEXT = {
    "waiting": "Scan the QR code with the phone app.",
    "scanned": "Scanned: confirm the login on the phone.",
    "confirmed": "Confirmed: logged in.",
    "expired": "The QR code expired. Start a new login.",
    "cancelled": "Login cancelled.",
    "failed": "Login failed."
  };
  var LOGIN_FINAL = { "confirmed": true, "expired": true, "cancelled": true, "failed": true };

  var el = {};
  var cards = new Map(); // storage name -> card record
  var events = null; // the EventSource while signed in
  var reconnectTimer = null;
  var reconnectDelay = 1000;
  var signedIn = false;

  // ---- HTTP ----------------------------------------------------------------------------

  function ApiError(status, kind, message, retryAfter) {
    this.status = status;
    this.kind = kind || "";
    this.message = message || ("HTTP " + status);
    this.retryAfter = retryAfter;
  }

  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    var init = { method: method, credentials: "same-origin", cache: "no-store", headers: headers };
    if (method !== "GET" && method !== "HEAD") {
      headers["X-Drivekeep-Console"] = "1";
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (resp) {
      var read = resp.status === 204 ? Promise.resolve(null) : resp.json().catch(function () { return null; });
      return read.then(function (data) {
        if (resp.ok) {
          return data;
        }
        var err = data && data.error ? data.error : {};
        throw new ApiError(resp.status, err.kind, err.message, resp.headers.get("Retry-After"));
      });
    }, function () {
      throw new ApiError(0, "network", "The server cannot be reached.");
    });
  }

  function storagePath(name) {
    return "/storages/" + encodeURIComponent(name);
  }

  // Words for a failed request, for the user.
  function describe(err) {
    if (!(err instanceof ApiError)) {
      return "Unexpected error: " + String(err);
    }
    if (err.status === 429) {
      var wait = parseInt(err.retryAfter, 10);
      return "Too many attempts." + (wait > 0 ? " Try again in " + wait + " s." : " Try again later.");
    }
    return err.message;
  }

  // A 401 on any call means the console session is gone: back to the sign-in form.
  function handleFailure(err, target) {
    if (err instanceof ApiError && err.status === 401 && signedIn) {
      showSignIn("Your session ended. Sign in again.");
      return;
    }
    if (target) {
      target.textContent = describe(err);
    }
  }

  // ---- Views ---------------------------------------------------------------------------

  function setStatus(text) {
    el.status.textContent = text;
  }

  function showSignIn(message) {
    signedIn = false;
    closeEvents();
    clearCards();
    el.storagesView.hidden = true;
    el.signOut.hidden = true;
    el.connection.textContent = "";
    el.signInView.hidden = false;
    el.signInError.textContent = message || "";
    setStatus("");
    el.apiKey.focus();
  }

  function showStorages() {
    signedIn = true;
    el.signInView.hidden = true;
    el.signInError.textContent = "";
    el.signOut.hidden = false;
    el.storagesView.hidden = false;
    setStatus("Loading storages…");
    return api("GET", "/storages").then(function (data) {
      renderStorages((data && data.storages) || []);
      setStatus("");
      openEvents();
    }, function (err) {
      handleFailure(err, el.status);
    });
  }

  // ---- Sign in / out -------------------------------------------------------------------

  function signIn(body) {
    el.signIn.disabled = true;
    el.signInError.textContent = "";
    setStatus("Signing in…");
    return api("POST", "/session", body).then(function () {
      el.apiKey.value = "";
      return showStorages();
    }, function (err) {
      setStatus("");
      showSignIn(err instanceof ApiError && err.status === 401
        ? (body.one_time
          ? "This sign-in link is not valid (it works once). Sign in with an API key."
          : "This API key was not accepted.")
        : describe(err));
    }).then(function () {
      el.signIn.disabled = false;
    });
  }

  function signOut() {
    el.signOut.disabled = true;
    api("DELETE", "/session").catch(function () { return null; }).then(function () {
      el.signOut.disabled = false;
      showSignIn("");
      setStatus("Signed out.");
    });
  }

  // The one-time token from `#one_time=…`, removed from the address bar at once (it works
  // only once, and should not stay in the history).
  function takeOneTimeToken() {
    var hash = window.location.hash.replace(/^#/, "");
    if (!hash) {
      return null;
    }
    var token = new URLSearchParams(hash).get("one_time");
    if (token !== null) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return token;
  }

  // ---- Cards ---------------------------------------------------------------------------

  function clearCards() {
    cards.forEach(function (card) {
      card.root.remove();
    });
    cards.clear();
    el.noStorages.hidden = true;
  }

  function renderStorages(list) {
    clearCards();
    list.forEach(function (storage) {
      var card = createCard(storage);
      cards.set(storage.name, card);
      el.cards.appendChild(card.root);
    });
    el.noStorages.hidden = list.length > 0;
  }

  function createCard(storage) {
    var root = el.cardTemplate.content.firstElementChild.cloneNode(true);
    var q = function (sel) { return root.querySelector(sel); };
    var card = {
      name: storage.name,
      root: root,
      state: q(".state"),
      detail: q(".detail"),
      loginQr: q(".login-qr"),
      loginPassword: q(".login-password"),
      refresh: q(".refresh"),
      logout: q(".logout"),
      qrOptions: q(".qr-options"),
      clientId: q(".client-id"),
      passwordForm: q(".password-form"),
      username: q(".username"),
      password: q(".password"),
      qrArea: q(".qr-area"),
      qr: q(".qr"),
      loginCancel: q(".login-cancel"),
      loginStatus: q(".login-status"),
      error: q(".card-error"),
      loginId: null,
      finished: new Set(), // login ids whose final `login` event came
      current: null
    };
    root.dataset.storage = storage.name;
    var titleId = "card-" + cards.size + "-title";
    q(".card-title").id = titleId;
    root.setAttribute("aria-labelledby", titleId);
    // Every card has the same buttons: name the storage they act on.
    Array.prototype.forEach.call(root.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-describedby", titleId);
    });
    q(".display-name").textContent = storage.display_name || storage.name;
    q(".storage-name").textContent = storage.display_name && storage.display_name !== storage.name
      ? "(" + storage.name + ")" : "";
    card.qr.setAttribute("aria-label", "QR code for " + (storage.display_name || storage.name)
      + ": scan it with the phone app");
    var logins = storage.logins || [];
    card.loginQr.hidden = logins.indexOf("qr") < 0;
    card.qrOptions.hidden = card.loginQr.hidden;
    card.loginPassword.hidden = logins.indexOf("password") < 0;

    card.loginQr.addEventListener("click", function () { startQrLogin(card); });
    card.loginCancel.addEventListener("click", function () { cancelQrLogin(card); });
    card.loginPassword.addEventListener("click", function () { togglePasswordForm(card); });
    card.passwordForm.addEventListener("submit", function (e) {
      e.preventDefault();
      passwordLogin(card);
    });
    q(".password-cancel").addEventListener("click", function () { closePasswordForm(card); });
    card.refresh.addEventListener("click", function () {
      action(card, card.refresh, "POST", storagePath(card.name) + "/refresh", "Refreshed.");
    });
    card.logout.addEventListener("click", function () {
      action(card, card.logout, "POST", storagePath(card.name) + "/logout", "Logged out.");
    });
    applyState(card, storage.state || { state: "logged-out" });
    return card;
  }

  function applyState(card, state) {
    var label = (state && state.state) || "logged-out";
    var before = card.root.dataset.state;
    card.current = state;
    card.root.dataset.state = label;
    card.state.dataset.state = label;
    card.state.textContent = STATE_TEXT[label] || label.replace(/-/g, " ");
    card.refresh.disabled = label === "logged-out" || label === "needs-login";
    card.logout.disabled = label === "logged-out";
    renderDetail(card);
    if (label === "valid" && before !== "valid" && card.loginId) {
      // Logged in while a QR code shows: the login finished (its `login` event may come
      // after the state). A refresh during a new login of a logged-in storage is not that.
      hideQr(card);
      card.qrOptions.open = false;
      card.loginStatus.textContent = LOGIN_TEXT.confirmed;
    }
  }

  // The line beside the state: expiry or retry time as relative time, or the reason.
  function renderDetail(card) {
    var state = card.current || {};
    var detail = card.detail;
    detail.removeAttribute("title");
    if (state.state === "valid") {
      if (state.expires_at) {
        var at = new Date(state.expires_at);
        detail.textContent = (at.getTime() > Date.now() ? "expires " : "expired ") + relative(at);
        detail.title = at.toLocaleString();
      } else {
        detail.textContent = "no known expiry";
      }
    } else if (state.state === "rate-limited" && state.until) {
      var until = new Date(state.until);
      detail.textContent = "next refresh allowed " + relative(until);
      detail.title = until.toLocaleString();
    } else if (state.state === "needs-login" && state.reason) {
      detail.textContent = state.reason;
    } else {
      detail.textContent = "";
    }
  }

  var relativeFormat = typeof Intl === "object" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat("en", { numeric: "auto" }) : null; // The page is in English.

  // "in 2 hours", "3 minutes ago".
  function relative(date) {
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    var abs = Math.abs(seconds);
    var value;
    var unit;
    if (abs < 60) { value = seconds; unit = "second"; }
    else if (abs < 3600) { value = Math.round(seconds / 60); unit = "minute"; }
    else if (abs < 172800) { value = Math.round(seconds / 3600); unit = "hour"; }
    else { value = Math.round(seconds / 86400); unit = "day"; }
    if (relativeFormat) {
      return relativeFormat.format(value, unit);
    }
    var words = Math.abs(value) + " " + unit + (Math.abs(value) === 1 ? "" : "s");
    return value >= 0 ? "in " + words : words + " ago";
  }

  // A button's request; the answer `{"state": …}` updates the card.
  function action(card, button, method, path, done, body) {
    button.disabled = true;
    card.root.setAttribute("aria-busy", "true");
    card.error.textContent = "";
    return api(method, path, body).then(function (data) {
      if (data && data.state) {
        card.current = data.state;
      }
      card.loginStatus.textContent = done;
      return data;
    }, function (err) {
      handleFailure(err, card.error);
      return null;
    }).then(function (data) {
      card.root.removeAttribute("aria-busy");
      button.disabled = false;
      // Also disables the buttons that make no sense in the (new) state.
      applyState(card, card.current);
      return data;
    });
  }

  // ---- QR login ------------------------------------------------------------------------

  function startQrLogin(card) {
    closePasswordForm(card);
    card.error.textContent = "";
    card.loginStatus.textContent = "Starting a QR login…";
    card.loginQr.disabled = true;
    var clientId = card.clientId.value.trim();
    var body = clientId ? { client_id: clientId } : undefined;
    api("POST", storagePath(card.name) + "/login/qr", body).then(function (data) {
      if (card.finished.has(data.login_id)) {
        return; // Its final event overtook this answer: nothing left to scan.
      }
      card.loginId = data.login_id;
      showQr(card, data.qr_svg);
      if (card.loginStatus.textContent === "Starting a QR login…") {
        card.loginStatus.textContent = LOGIN_TEXT.waiting;
      }
    }, function (err) {
      card.loginStatus.textContent = "";
      handleFailure(err, card.error);
      if (err instanceof ApiError && err.status === 400) {
        // Most likely the provider's APP ID is missing (the message says what is needed):
        // offer the field.
        card.qrOptions.open = true;
        card.clientId.focus();
      }
    }).then(function () {
      card.loginQr.disabled = false;
    });
  }

  function cancelQrLogin(card) {
    var id = card.loginId;
    if (!id) {
      hideQr(card);
      return;
    }
    card.loginCancel.disabled = true;
    api("DELETE", storagePath(card.name) + "/login/" + encodeURIComponent(id)).then(function () {
      if (card.loginId === id) {
        hideQr(card);
        card.loginStatus.textContent = LOGIN_TEXT.cancelled;
      }
    }, function (err) {
      handleFailure(err, card.error);
    }).then(function () {
      card.loginCancel.disabled = false;
    });
  }

  // Inserts the server-rendered QR SVG. This is the only markup from the server that the
  // console inserts (everything else is `textContent`): it comes from our own server, and is
  // parsed in an inert document (scripts never run there) and cleaned of anything active
  // before its nodes are adopted.
  function showQr(card, markup) {
    var doc = new DOMParser().parseFromString(String(markup || ""), "text/html");
    var svg = doc.querySelector("svg");
    card.qr.replaceChildren();
    if (!svg || svg.namespaceURI !== SVG_NS) {
      card.error.textContent = "The server sent no QR code.";
      return;
    }
    sanitizeSvg(svg);
    svg.setAttribute("focusable", "false");
    svg.setAttribute("aria-hidden", "true");
    card.qr.appendChild(document.adoptNode(svg));
    card.qrArea.hidden = false;
  }

  var SVG_ALLOWED = { "svg": true, "path": true, "rect": true, "g": true, "title": true, "desc": true };

  function sanitizeSvg(svg) {
    var all = [svg].concat(Array.prototype.slice.call(svg.querySelectorAll("*")));
    all.forEach(function (node) {
      if (node !== svg && !SVG_ALLOWED[node.localName]) {
        node.remove();
        return;
      }
      Array.prototype.slice.call(node.attributes).forEach(function (attr) {
        var name = attr.name.toLowerCase();
        if (name.indexOf("on") === 0 || name === "style" || name.indexOf("href") >= 0) {
          node.removeAttribute(attr.name);
        }
      });
    });
  }

  function hideQr(card) {
    card.loginId = null;
    card.qr.replaceChildren();
    card.qrArea.hidden = true;
  }

  function onLoginEvent(data) {
    var card = cards.get(data.storage);
    if (!card) {
      return;
    }
    // Progress of another login (started in another window) is shown, but only the login
    // this card shows owns the QR code.
    var ours = !card.loginId || card.loginId === data.login_id;
    var text = LOGIN_TEXT[data.status] || data.status;
    if (data.status === "failed" && data.message) {
      text = "Login failed: " + data.message;
    } else if (data.message && data.status !== "confirmed") {
      text = text + " " + data.message;
    }
    card.loginStatus.textContent = text;
    if (LOGIN_FINAL[data.status]) {
      card.finished.add(data.login_id);
      if (ours) {
        hideQr(card);
      }
    }
  }

  // ---- Password login (OpenList) -------------------------------------------------------

  function togglePasswordForm(card) {
    if (card.passwordForm.hidden) {
      card.passwordForm.hidden = false;
      card.loginPassword.setAttribute("aria-expanded", "true");
      card.username.focus();
    } else {
      closePasswordForm(card);
    }
  }

  function closePasswordForm(card) {
    card.passwordForm.hidden = true;
    card.password.value = "";
    card.loginPassword.setAttribute("aria-expanded", "false");
  }

  function passwordLogin(card) {
    var username = card.username.value.trim();
    var password = card.password.value;
    if (!username || !password) {
      card.error.textContent = "Enter the user name and the password.";
      return;
    }
    var submit = card.passwordForm.querySelector(".password-submit");
    action(card, submit, "POST", storagePath(card.name) + "/login/password", "Logged in.",
      { username: username, password: password }).then(function (data) {
      if (data) {
        closePasswordForm(card);
      } else {
        card.loginStatus.textContent = "";
        card.password.value = "";
      }
    });
  }

  // ---- Event stream --------------------------------------------------------------------

  function openEvents() {
    closeEvents();
    // Same origin: the session cookie goes with it.
    var source = new EventSource(API + "/events");
    events = source;
    el.connection.textContent = "connecting…";
    source.addEventListener("open", function () {
      reconnectDelay = 1000;
      el.connection.textContent = "live";
      el.connection.dataset.live = "true";
    });
    source.addEventListener("state", function (e) {
      var data = parse(e.data);
      if (!data || typeof data.storage !== "string") {
        return;
      }
      var card = cards.get(data.storage);
      if (card) {
        applyState(card, data.state);
      } else {
        // A storage added while the page is open: fetch the list again.
        refetchStorages();
      }
    });
    source.addEventListener("login", function (e) {
      var data = parse(e.data);
      if (data && typeof data.storage === "string") {
        onLoginEvent(data);
      }
    });
    source.addEventListener("error", function () {
      if (events !== source) {
        return;
      }
      el.connection.dataset.live = "false";
      el.connection.textContent = "reconnecting…";
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer, e.g. 401): check the session, then retry.
        closeEvents();
        scheduleReconnect();
      }
    });
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null || !signedIn) {
      return;
    }
    reconnectTimer = window.setTimeout(function () {
      reconnectTimer = null;
      api("GET", "/session").then(function () {
        reconnectDelay = Math.min(reconnectDelay * 2, 30000);
        return showStorages();
      }, function (err) {
        if (err instanceof ApiError && err.status === 401) {
          showSignIn("Your session ended. Sign in again.");
        } else {
          el.connection.textContent = "offline; retrying…";
          reconnectDelay = Math.min(reconnectDelay * 2, 30000);
          scheduleReconnect();
        }
      });
    }, reconnectDelay);
  }

  function closeEvents() {
    if (events) {
      events.close();
      events = null;
    }
    if (reconnectTimer !== null) {
      window.clearTimeout(reconnectTimer);
      reconnectTimer = null;
    }
  }

  var refetching = false;
  function refetchStorages() {
    if (refetching) {
      return;
    }
    refetching = true;
    api("GET", "/storages").then(function (data) {
      var list = (data && data.storages) || [];
      list.forEach(function (storage) {
        if (!cards.has(storage.name)) {
          var card = createCard(storage);
          cards.set(storage.name, card);
          el.cards.appendChild(card.root);
        }
      });
      el.noStorages.hidden = cards.size > 0;
    }, function (err) {
      handleFailure(err, el.status);
    }).then(function () {
      refetching = false;
    });
  }

  function parse(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  // ---- Start ---------------------------------------------------------------------------

  function start() {
    el.status = document.getElementById("status");
    el.connection = document.getElementById("connection");
    el.signOut = document.getElementById("sign-out");
    el.signInView = document.getElementById("sign-in-view");
    el.signInForm = document.getElementById("sign-in-form");
    el.apiKey = document.getElementById("api-key");
    el.signIn = document.getElementById("sign-in");
    el.signInError = document.getElementById("sign-in-error");
    el.storagesView = document.getElementById("storages-view");
    el.noStorages = document.getElementById("no-storages");
    el.cards = document.getElementById("cards");
    el.cardTemplate = document.getElementById("card-template");

    el.signInForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var key = el.apiKey.value.trim();
      if (!key) {
        el.signInError.textContent = "Enter an API key.";
        el.apiKey.focus();
        return;
      }
      signIn({ api_key: key });
    });
    el.signOut.addEventListener("click", signOut);
    // Relative times age: redraw them every 15 s.
    window.setInterval(function () {
      cards.forEach(renderDetail);
    }, 15000);

    // A one-time link pasted into the address bar of an open console changes only the hash.
    window.addEventListener("hashchange", function () {
      var token = takeOneTimeToken();
      if (token) {
        signIn({ one_time: token });
      }
    });
    var oneTime = takeOneTimeToken();
    if (oneTime) {
      signIn({ one_time: oneTime });
      return;
    }
    api("GET", "/session").then(showStorages, function (err) {
      if (err instanceof ApiError && err.status === 401) {
        showSignIn("");
      } else {
        showSignIn(describe(err));
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
