//! The editions features that decide what prost generates, resolved as protoc resolves
//! them: the edition's defaults, overridden by the file, then each enclosing message,
//! the oneof and the field. Each resolved value remembers the `SourceCodeInfo` path of
//! the setting it comes from, so that an error can point at that line.

use crate::descriptor::FeatureSet;

/// A feature of `google.protobuf.FeatureSet` and the values gorums-build knows.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Feature {
    /// Its name after `features.`.
    pub(crate) name: &'static str,
    /// Its field number in `FeatureSet`.
    pub(crate) number: i32,
    values: &'static [(i32, &'static str)],
}

impl Feature {
    /// The name of `value`, e.g. `IMPLICIT`, or `None` for a value unknown here.
    pub(crate) fn value_name(&self, value: i32) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(number, _)| *number == value)
            .map(|(_, name)| *name)
    }

    /// `features.field_presence = IMPLICIT`, as written in a `.proto` file.
    pub(crate) fn setting(&self, value: i32) -> String {
        match self.value_name(value) {
            Some(name) => format!("features.{} = {name}", self.name),
            None => format!("features.{} = {value}", self.name),
        }
    }

    /// The known values, e.g. `EXPLICIT, IMPLICIT or LEGACY_REQUIRED`.
    pub(crate) fn known_values(&self) -> String {
        let names: Vec<&str> = self.values.iter().map(|(_, name)| *name).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        }
    }
}

/// `field_presence`.
pub(crate) const FIELD_PRESENCE: Feature = Feature {
    name: "field_presence",
    number: 1,
    values: &[
        (EXPLICIT, "EXPLICIT"),
        (IMPLICIT, "IMPLICIT"),
        (LEGACY_REQUIRED, "LEGACY_REQUIRED"),
    ],
};
/// `enum_type`.
pub(crate) const ENUM_TYPE: Feature = Feature {
    name: "enum_type",
    number: 2,
    values: &[(OPEN, "OPEN"), (CLOSED, "CLOSED")],
};
/// `repeated_field_encoding`.
pub(crate) const REPEATED_FIELD_ENCODING: Feature = Feature {
    name: "repeated_field_encoding",
    number: 3,
    values: &[(PACKED, "PACKED"), (EXPANDED, "EXPANDED")],
};
/// `utf8_validation`.
pub(crate) const UTF8_VALIDATION: Feature = Feature {
    name: "utf8_validation",
    number: 4,
    values: &[(VERIFY, "VERIFY"), (NONE, "NONE")],
};
/// `message_encoding`.
pub(crate) const MESSAGE_ENCODING: Feature = Feature {
    name: "message_encoding",
    number: 5,
    values: &[
        (LENGTH_PREFIXED, "LENGTH_PREFIXED"),
        (DELIMITED, "DELIMITED"),
    ],
};
/// `json_format`: prost writes no JSON, so any known value is fine.
pub(crate) const JSON_FORMAT: Feature = Feature {
    name: "json_format",
    number: 6,
    values: &[(1, "ALLOW"), (2, "LEGACY_BEST_EFFORT")],
};

/// `FieldPresence.EXPLICIT`: the field knows whether it was set (`Option` in Rust).
pub(crate) const EXPLICIT: i32 = 1;
/// `FieldPresence.IMPLICIT`: a default value is not sent (a plain proto3 field).
pub(crate) const IMPLICIT: i32 = 2;
/// `FieldPresence.LEGACY_REQUIRED`: a proto2 `required` field.
pub(crate) const LEGACY_REQUIRED: i32 = 3;
/// `EnumType.OPEN`.
pub(crate) const OPEN: i32 = 1;
/// `EnumType.CLOSED`.
pub(crate) const CLOSED: i32 = 2;
/// `RepeatedFieldEncoding.PACKED`.
pub(crate) const PACKED: i32 = 1;
/// `RepeatedFieldEncoding.EXPANDED`.
pub(crate) const EXPANDED: i32 = 2;
/// `Utf8Validation.VERIFY`.
pub(crate) const VERIFY: i32 = 2;
/// `Utf8Validation.NONE`.
pub(crate) const NONE: i32 = 3;
/// `MessageEncoding.LENGTH_PREFIXED`.
pub(crate) const LENGTH_PREFIXED: i32 = 1;
/// `MessageEncoding.DELIMITED`.
pub(crate) const DELIMITED: i32 = 2;

/// A resolved feature value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) value: i32,
    /// The `SourceCodeInfo` path of the `features.x = ...` that set it; `None` for the
    /// edition's default.
    pub(crate) set_at: Option<Vec<i32>>,
}

impl Setting {
    fn default(value: i32) -> Setting {
        Setting {
            value,
            set_at: None,
        }
    }
}

/// The features in force at one element of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Features {
    pub(crate) field_presence: Setting,
    pub(crate) enum_type: Setting,
    pub(crate) repeated_field_encoding: Setting,
    pub(crate) utf8_validation: Setting,
    pub(crate) message_encoding: Setting,
    pub(crate) json_format: Setting,
}

/// A feature set to a value gorums-build does not know (a newer `descriptor.proto`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnknownValue {
    pub(crate) feature: &'static Feature,
    pub(crate) value: i32,
    pub(crate) set_at: Vec<i32>,
}

impl Features {
    /// The defaults of editions 2023 and 2024, which differ only in features that
    /// protoc checks and strips itself (`enforce_naming_style`,
    /// `default_symbol_visibility`) and in language features of other generators.
    pub(crate) fn edition_defaults() -> Features {
        Features {
            field_presence: Setting::default(EXPLICIT),
            enum_type: Setting::default(OPEN),
            repeated_field_encoding: Setting::default(PACKED),
            utf8_validation: Setting::default(VERIFY),
            message_encoding: Setting::default(LENGTH_PREFIXED),
            json_format: Setting::default(1),
        }
    }

    /// These features with those of `set`, found at `path` (the `features` field of an
    /// options message), taking precedence. Values unknown here are kept, and also
    /// pushed to `unknown`.
    pub(crate) fn with(
        &self,
        set: Option<&FeatureSet>,
        path: &[i32],
        unknown: &mut Vec<UnknownValue>,
    ) -> Features {
        let mut features = self.clone();
        let Some(set) = set else {
            return features;
        };
        let slots: [(&'static Feature, Option<i32>, &mut Setting); 6] = [
            (
                &FIELD_PRESENCE,
                set.field_presence,
                &mut features.field_presence,
            ),
            (&ENUM_TYPE, set.enum_type, &mut features.enum_type),
            (
                &REPEATED_FIELD_ENCODING,
                set.repeated_field_encoding,
                &mut features.repeated_field_encoding,
            ),
            (
                &UTF8_VALIDATION,
                set.utf8_validation,
                &mut features.utf8_validation,
            ),
            (
                &MESSAGE_ENCODING,
                set.message_encoding,
                &mut features.message_encoding,
            ),
            (&JSON_FORMAT, set.json_format, &mut features.json_format),
        ];
        for (feature, value, slot) in slots {
            let Some(value) = value else { continue };
            let set_at: Vec<i32> = path.iter().copied().chain([feature.number]).collect();
            if feature.value_name(value).is_none() {
                unknown.push(UnknownValue {
                    feature,
                    value,
                    set_at: set_at.clone(),
                });
            }
            *slot = Setting {
                value,
                set_at: Some(set_at),
            };
        }
        features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_overrides_the_parent_and_remembers_where_it_was_made() {
        let file = Features::edition_defaults();
        let set = FeatureSet {
            field_presence: Some(IMPLICIT),
            ..FeatureSet::default()
        };
        let mut unknown = Vec::new();
        let message = file.with(Some(&set), &[4, 0, 7, 12], &mut unknown);
        assert_eq!(message.field_presence.value, IMPLICIT);
        assert_eq!(message.field_presence.set_at, Some(vec![4, 0, 7, 12, 1]));
        assert_eq!(message.message_encoding, file.message_encoding);
        assert!(unknown.is_empty());
        // Nothing set below: inherited unchanged.
        assert_eq!(
            message.with(None, &[4, 0, 2, 0, 8, 21], &mut unknown),
            message
        );
    }

    #[test]
    fn an_unknown_value_is_reported_where_it_was_set() {
        let set = FeatureSet {
            message_encoding: Some(7),
            ..FeatureSet::default()
        };
        let mut unknown = Vec::new();
        Features::edition_defaults().with(Some(&set), &[8, 50], &mut unknown);
        assert_eq!(
            unknown,
            vec![UnknownValue {
                feature: &MESSAGE_ENCODING,
                value: 7,
                set_at: vec![8, 50, 5],
            }]
        );
        assert_eq!(MESSAGE_ENCODING.setting(7), "features.message_encoding = 7");
        assert_eq!(
            MESSAGE_ENCODING.known_values(),
            "LENGTH_PREFIXED or DELIMITED"
        );
        assert_eq!(
            FIELD_PRESENCE.known_values(),
            "EXPLICIT, IMPLICIT or LEGACY_REQUIRED"
        );
    }
}
