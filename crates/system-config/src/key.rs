//! The keys MoviePilot stores in `systemconfig`, plus free-form keys.
//!
//! Every store method takes `impl AsRef<str>`: a [`SystemConfigKey`], a plugin key built
//! with [`plugin_key`], or any other string.

use std::fmt;
use std::str::FromStr;

macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A key MoviePilot knows. Its string form equals its name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum SystemConfigKey {
            $($(#[$doc])* #[allow(missing_docs)] $name,)*
        }

        impl SystemConfigKey {
            /// Every known key, in MoviePilot's order.
            pub const ALL: &'static [SystemConfigKey] = &[$(SystemConfigKey::$name,)*];

            /// The key as stored in the table.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(SystemConfigKey::$name => stringify!($name),)*
                }
            }
        }

        impl FromStr for SystemConfigKey {
            type Err = UnknownKey;
            fn from_str(s: &str) -> Result<Self, UnknownKey> {
                match s {
                    $(stringify!($name) => Ok(SystemConfigKey::$name),)*
                    _ => Err(UnknownKey),
                }
            }
        }
    };
}

keys!(
    Downloaders,
    MediaServers,
    Notifications,
    NotificationSwitchs,
    Directories,
    /// Every storage (drive) configuration, tokens included, as one JSON list.
    Storages,
    IndexerSites,
    RssSites,
    CustomReleaseGroups,
    Customization,
    CustomIdentifiers,
    TransferExcludeWords,
    TorrentsPriority,
    CustomFilterRules,
    UserFilterRuleGroups,
    SearchFilterRuleGroups,
    SubscribeFilterRuleGroups,
    SubscribeDefaultParams,
    BestVersionFilterRuleGroups,
    SubscribeReport,
    UserCustomCSS,
    UserInstalledPlugins,
    PluginInstallReport,
    PluginFolders,
    DefaultMovieSubscribeConfig,
    DefaultTvSubscribeConfig,
    UserSiteAuthParams,
    FollowSubscribers,
    NotificationSendTime,
    NotificationTemplates,
    ScrapingSwitchs,
    AIAgentConfig,
    SetupWizardState,
    UgreenSessionCache,
    PluginInstances,
    DefaultMusicSubscribeConfig,
    AIAgentMcpServers,
    NotificationClearBefore,
    MediaRecognizeShareCount,
    MediaClassificationPolicy,
);

/// The string is not one of [`SystemConfigKey::ALL`]. It can still be used as a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownKey;

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a known MoviePilot configuration key")
    }
}

impl std::error::Error for UnknownKey {}

impl AsRef<str> for SystemConfigKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for SystemConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key under which MoviePilot plugins keep their settings: `plugin.<id>`.
pub fn plugin_key(plugin_id: &str) -> String {
    format!("plugin.{plugin_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_equals_name_and_round_trips() {
        assert_eq!(SystemConfigKey::ALL.len(), 40);
        for key in SystemConfigKey::ALL {
            assert_eq!(key.as_str(), format!("{key:?}"));
            assert_eq!(key.as_str().parse::<SystemConfigKey>(), Ok(*key));
        }
        assert_eq!("plugin.X".parse::<SystemConfigKey>(), Err(UnknownKey));
        assert_eq!(plugin_key("AutoSignIn"), "plugin.AutoSignIn");
    }
}
