//! Reads each method's Gorums option from the compiled descriptors and checks the rules
//! Go Gorums enforces, so that one `.proto` file means the same thing in both.

use std::collections::BTreeMap;

use protox::prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

use crate::{MethodRule, Violation};

/// How a method is called, from its Gorums option and the shape of its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallType {
    /// No option, or `gorums.rpc`: an ordered RPC to one node.
    Rpc,
    /// `gorums.unicast`: a one-way message to one node.
    Unicast,
    /// `gorums.multicast`: a one-way message to every node of a configuration.
    Multicast,
    /// `gorums.quorumcall` with a single reply.
    QuorumCall,
    /// `gorums.quorumcall` with a `stream` reply: a correctable call.
    Correctable,
}

impl CallType {
    /// Whether the call is made on a node (`true`) or on a configuration.
    pub(crate) fn is_node_level(self) -> bool {
        matches!(self, CallType::Rpc | CallType::Unicast)
    }
}

/// The Gorums options, by their name in `gorums.proto`.
const OPTIONS: [&str; 4] = [
    "gorums.rpc",
    "gorums.unicast",
    "gorums.multicast",
    "gorums.quorumcall",
];

/// Message names the Gorums API reserves (Go Gorums generates types of these names).
const RESERVED_MESSAGE_NAMES: [&str; 4] = ["Configuration", "Node", "NodeContext", "ConfigContext"];

/// Call types by full method name (`package.Service.Method`); `None` for a method that
/// breaks a rule.
pub(crate) type CallTypes = BTreeMap<String, Option<CallType>>;

/// The call type of every method of every service, by full method name
/// (`package.Service.Method`), `None` for a method that breaks a rule, and every rule
/// broken: reserved message names first, then the methods in the order of the pool.
///
/// `method_options` holds each method's encoded options by full name: the pool, made
/// from prost-types descriptors, has lost their extensions, which it decodes here.
///
/// # Errors
///
/// If a method's options do not decode as `google.protobuf.MethodOptions`.
pub(crate) fn call_types(
    pool: &DescriptorPool,
    method_options: &BTreeMap<String, Vec<u8>>,
) -> Result<(CallTypes, Vec<Violation>), prost::DecodeError> {
    let mut violations = Vec::new();
    for message in pool.all_messages() {
        let is_top_level = message.parent_message().is_none();
        if is_top_level && RESERVED_MESSAGE_NAMES.contains(&message.name()) {
            violations.push(Violation::ReservedName {
                message: message.full_name().to_owned(),
                file: message.parent_file().name().to_owned(),
            });
        }
    }
    // Gorums options need gorums.proto, which imports descriptor.proto; without it no
    // method can have one.
    let options_type = pool.get_message_by_name("google.protobuf.MethodOptions");
    let mut types = BTreeMap::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = match (&options_type, method_options.get(method.full_name())) {
                (Some(desc), Some(bytes)) => {
                    DynamicMessage::decode(desc.clone(), bytes.as_slice())?
                }
                _ => method.options(),
            };
            let call_type = match call_type(&method, &options) {
                Ok(call_type) => Some(call_type),
                Err(rules) => {
                    violations.extend(rules.into_iter().map(|rule| Violation::Method {
                        method: method.full_name().to_owned(),
                        file: method.parent_file().name().to_owned(),
                        rule,
                    }));
                    None
                }
            };
            types.insert(method.full_name().to_owned(), call_type);
        }
    }
    Ok((types, violations))
}

/// The call type of `method` with `options`, or every rule it breaks.
fn call_type(
    method: &MethodDescriptor,
    options: &DynamicMessage,
) -> Result<CallType, Vec<MethodRule>> {
    let set: Vec<&str> = options
        .extensions()
        .filter(|(_, value)| matches!(value, Value::Bool(true)))
        .filter_map(|(ext, _)| OPTIONS.iter().copied().find(|o| *o == ext.full_name()))
        .collect();
    let mut broken = Vec::new();
    if set.len() > 1 {
        broken.push(MethodRule::SeveralOptions {
            options: set.iter().map(|o| o.to_string()).collect(),
        });
    }
    if method.is_client_streaming() {
        broken.push(MethodRule::ClientStreaming);
    }
    let is_quorum_call = set.contains(&"gorums.quorumcall");
    if method.is_server_streaming() && !is_quorum_call {
        broken.push(MethodRule::StreamWithoutQuorumCall);
    }
    if !broken.is_empty() {
        return Err(broken);
    }
    Ok(match set.first().copied() {
        _ if method.is_server_streaming() => CallType::Correctable,
        Some("gorums.unicast") => CallType::Unicast,
        Some("gorums.multicast") => CallType::Multicast,
        Some("gorums.quorumcall") => CallType::QuorumCall,
        _ => CallType::Rpc,
    })
}
