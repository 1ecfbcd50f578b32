//! Writes the typed API of one service: method names, a configuration type, a node type,
//! a server trait and its `register_*` function. prost-build calls it once per service
//! and appends the text to the package's generated file, beside the message types.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::rc::Rc;

use prost_build::{Comments, Method, Service, ServiceGenerator};

use crate::call_type::{CallType, CallTypes};
use crate::{GeneratedType, MethodRule, Violation};

/// Names the generated configuration type defines itself; a method may not take them.
const CONFIG_OWN_NAMES: [&str; 5] = [
    "new",
    "configuration",
    "into_configuration",
    "nodes",
    "node",
];
/// Names the generated node type defines itself.
const NODE_OWN_NAMES: [&str; 3] = ["new", "node", "into_node"];

/// The [`ServiceGenerator`] handed to prost-build.
pub(crate) struct Generator {
    /// Path of the API module in the generated code, e.g. `::gorums_core::api`.
    pub(crate) api: String,
    /// Call type by full method name; `None` for a method already reported as invalid.
    pub(crate) call_types: CallTypes,
    /// Rules broken in the generated names (prost-build's callback cannot return them).
    pub(crate) violations: Rc<RefCell<Vec<Violation>>>,
}

/// One method, ready to write.
struct Call<'a> {
    method: &'a Method,
    /// `package.Service.Method`, the name on the wire.
    full_name: String,
    /// The Rust name of the generated function.
    fn_name: String,
    /// The name of its constant in the `*_methods` module.
    const_name: String,
    call_type: CallType,
}

impl ServiceGenerator for Generator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        let service_full_name = if service.package.is_empty() {
            service.proto_name.clone()
        } else {
            format!("{}.{}", service.package, service.proto_name)
        };
        let mut calls = Vec::new();
        let mut complete = true;
        for method in &service.methods {
            let full_name = format!("{service_full_name}.{}", method.proto_name);
            let call_type = match self.call_types.get(&full_name) {
                Some(Some(call_type)) => *call_type,
                // Reported already; the other methods' names are still checked.
                Some(None) => {
                    complete = false;
                    continue;
                }
                None => {
                    complete = false;
                    self.fail(&full_name, MethodRule::MissingFromPool);
                    continue;
                }
            };
            let fn_name = method.name.clone();
            let const_name = fn_name.trim_start_matches("r#").to_uppercase();
            calls.push(Call {
                method,
                full_name,
                fn_name,
                const_name,
                call_type,
            });
        }
        if !self.check_names(&calls) || !complete {
            return;
        }
        let writer = ServiceWriter {
            api: &self.api,
            service: &service,
            full_name: &service_full_name,
            calls: &calls,
        };
        writer.write(buf);
    }
}

impl Generator {
    fn fail(&self, method: &str, rule: MethodRule) {
        self.violations.borrow_mut().push(Violation::Method {
            method: method.to_owned(),
            file: String::from("(generated code)"),
            rule,
        });
    }

    /// Rejects two methods with one Rust name, and methods that would hide the generated
    /// types' own functions, reporting every clash. Returns whether all names are usable.
    fn check_names(&self, calls: &[Call<'_>]) -> bool {
        let mut ok = true;
        let mut config_names: BTreeSet<String> =
            CONFIG_OWN_NAMES.iter().map(|s| s.to_string()).collect();
        let mut node_names: BTreeSet<String> =
            NODE_OWN_NAMES.iter().map(|s| s.to_string()).collect();
        for call in calls {
            let (names, owner) = if call.call_type.is_node_level() {
                (&mut node_names, GeneratedType::Node)
            } else {
                (&mut config_names, GeneratedType::Configuration)
            };
            let mut wanted = vec![call.fn_name.clone()];
            if call.call_type == CallType::Multicast {
                wanted.push(format!("{}_mapped", call.fn_name));
            }
            for name in wanted {
                if !names.insert(name.clone()) {
                    ok = false;
                    self.fail(
                        &call.full_name,
                        MethodRule::NameClash {
                            owner,
                            function: name,
                        },
                    );
                }
            }
        }
        ok
    }
}

/// Writes the code of one service.
struct ServiceWriter<'a> {
    api: &'a str,
    service: &'a Service,
    full_name: &'a str,
    calls: &'a [Call<'a>],
}

impl ServiceWriter<'_> {
    fn write(&self, buf: &mut String) {
        self.write_method_names(buf);
        self.write_configuration(buf);
        self.write_node(buf);
        self.write_server_trait(buf);
        self.write_register(buf);
    }

    fn snake(&self) -> String {
        snake_case(&self.service.name)
    }

    fn methods_module(&self) -> String {
        format!("{}_methods", self.snake())
    }

    fn write_method_names(&self, buf: &mut String) {
        let _ = writeln!(
            buf,
            "/// Full method names of the `{}` service, as sent on the wire.",
            self.full_name
        );
        let _ = writeln!(buf, "pub mod {} {{", self.methods_module());
        for call in self.calls {
            let _ = writeln!(buf, "    /// `{}`.", call.full_name);
            let _ = writeln!(
                buf,
                "    pub const {}: &str = \"{}\";",
                call.const_name, call.full_name
            );
        }
        let _ = writeln!(buf, "}}");
    }

    fn write_configuration(&self, buf: &mut String) {
        let api = self.api;
        let name = &self.service.name;
        let ty = format!("{name}Configuration");
        let node_ty = format!("{name}Node");
        write_comments(&self.service.comments, 0, buf);
        let _ = writeln!(
            buf,
            "///\n/// The configuration-level calls of `{}` (quorum calls, correctable calls and \
             multicasts) on a [`Configuration`]({api}::Configuration). It dereferences to the \
             configuration, so the untyped API and the configuration algebra stay at hand.",
            self.full_name
        );
        let _ = writeln!(buf, "#[derive(Clone)]");
        let _ = writeln!(buf, "pub struct {ty}({api}::Configuration);");
        let _ = writeln!(buf, "impl {ty} {{");
        let _ = writeln!(
            buf,
            "    /// Gives `config` the typed calls of this service."
        );
        let _ = writeln!(
            buf,
            "    pub fn new(config: {api}::Configuration) -> Self {{ Self(config) }}"
        );
        let _ = writeln!(buf, "    /// The untyped configuration.");
        let _ = writeln!(
            buf,
            "    pub fn configuration(&self) -> &{api}::Configuration {{ &self.0 }}"
        );
        let _ = writeln!(buf, "    /// Unwraps the untyped configuration.");
        let _ = writeln!(
            buf,
            "    pub fn into_configuration(self) -> {api}::Configuration {{ self.0 }}"
        );
        let _ = writeln!(
            buf,
            "    /// The nodes in id order, with this service's node-level calls."
        );
        let _ = writeln!(
            buf,
            "    pub fn nodes(&self) -> ::std::vec::Vec<{node_ty}> {{ \
             self.0.nodes().into_iter().map({node_ty}::new).collect() }}"
        );
        let _ = writeln!(
            buf,
            "    /// The node with id `id`, if it is in this configuration."
        );
        let _ = writeln!(
            buf,
            "    pub fn node(&self, id: {api}::NodeId) -> ::std::option::Option<{node_ty}> {{ \
             self.0.node(id).map({node_ty}::new) }}"
        );
        for call in self.calls.iter().filter(|c| !c.call_type.is_node_level()) {
            self.write_config_call(call, buf);
        }
        let _ = writeln!(buf, "}}");
        write_newtype_impls(api, &ty, "Configuration", buf);
    }

    fn write_config_call(&self, call: &Call<'_>, buf: &mut String) {
        let api = self.api;
        let m = call.method;
        let (input, output) = (&m.input_type, &m.output_type);
        let konst = format!("{}::{}", self.methods_module(), call.const_name);
        write_comments(&m.comments, 1, buf);
        let fn_name = &call.fn_name;
        match call.call_type {
            CallType::QuorumCall => {
                let _ = writeln!(
                    buf,
                    "    ///\n    /// Quorum call `{}`. Lazy until first polled; pick a terminal \
                     (`majority`, `first`, `all`, `threshold`) or read the reply stream.",
                    call.full_name
                );
                let _ = writeln!(
                    buf,
                    "    pub fn {fn_name}(&self, request: &{input}) -> {api}::Responses<{output}> {{ \
                     self.0.quorum_call({konst}, request) }}"
                );
            }
            CallType::Correctable => {
                let _ = writeln!(
                    buf,
                    "    ///\n    /// Correctable call `{}`: every node streams replies; use \
                     `correctable(k)` on the result to watch the level rise.",
                    call.full_name
                );
                let _ = writeln!(
                    buf,
                    "    pub fn {fn_name}(&self, request: &{input}) -> {api}::Responses<{output}> {{ \
                     self.0.correctable_call({konst}, request) }}"
                );
            }
            CallType::Multicast => {
                let _ = writeln!(
                    buf,
                    "    ///\n    /// Multicast `{}`: sent at once to every node, no replies. \
                     The error lists the nodes it could not be sent to.",
                    call.full_name
                );
                let _ = writeln!(
                    buf,
                    "    pub fn {fn_name}(&self, request: &{input}) -> \
                     ::std::result::Result<(), {api}::QuorumCallError> {{ \
                     self.0.multicast({konst}, request) }}"
                );
                let _ = writeln!(
                    buf,
                    "    /// Multicast `{}` with a request per node from `map` (`None` skips \
                     the node).",
                    call.full_name
                );
                let _ = writeln!(
                    buf,
                    "    pub fn {}_mapped(&self, map: impl Fn(&{api}::Node) -> \
                     ::std::option::Option<{input}>) -> \
                     ::std::result::Result<(), {api}::QuorumCallError> {{ \
                     self.0.multicast_mapped({konst}, map) }}",
                    fn_name.trim_start_matches("r#")
                );
            }
            CallType::Rpc | CallType::Unicast => {}
        }
    }

    fn write_node(&self, buf: &mut String) {
        let api = self.api;
        let ty = format!("{}Node", self.service.name);
        let _ = writeln!(
            buf,
            "/// The node-level calls of `{}` (RPCs and unicasts) on a [`Node`]({api}::Node). \
             It dereferences to the node, so its id, address and latency stay at hand.",
            self.full_name
        );
        let _ = writeln!(buf, "#[derive(Clone)]");
        let _ = writeln!(buf, "pub struct {ty}({api}::Node);");
        let _ = writeln!(buf, "impl {ty} {{");
        let _ = writeln!(buf, "    /// Gives `node` the typed calls of this service.");
        let _ = writeln!(
            buf,
            "    pub fn new(node: {api}::Node) -> Self {{ Self(node) }}"
        );
        let _ = writeln!(buf, "    /// The untyped node.");
        let _ = writeln!(buf, "    pub fn node(&self) -> &{api}::Node {{ &self.0 }}");
        let _ = writeln!(buf, "    /// Unwraps the untyped node.");
        let _ = writeln!(
            buf,
            "    pub fn into_node(self) -> {api}::Node {{ self.0 }}"
        );
        for call in self.calls.iter().filter(|c| c.call_type.is_node_level()) {
            let m = call.method;
            let (input, output) = (&m.input_type, &m.output_type);
            let konst = format!("{}::{}", self.methods_module(), call.const_name);
            let fn_name = &call.fn_name;
            write_comments(&m.comments, 1, buf);
            if call.call_type == CallType::Rpc {
                let _ = writeln!(
                    buf,
                    "    ///\n    /// RPC `{}`, ordered with this caller's other calls to the \
                     node. The request is encoded now; dropping the future cancels the call.",
                    call.full_name
                );
                let _ = writeln!(
                    buf,
                    "    pub fn {fn_name}(&self, request: &{input}) -> impl \
                     ::core::future::Future<Output = ::std::result::Result<{output}, \
                     {api}::NodeError>> + Send + 'static {{ self.0.rpc({konst}, request) }}"
                );
            } else {
                let _ = writeln!(
                    buf,
                    "    ///\n    /// Unicast `{}`: sent at once, no reply.",
                    call.full_name
                );
                let _ = writeln!(
                    buf,
                    "    pub fn {fn_name}(&self, request: &{input}) -> \
                     ::std::result::Result<(), {api}::NodeError> {{ \
                     self.0.unicast({konst}, request) }}"
                );
            }
        }
        let _ = writeln!(buf, "}}");
        write_newtype_impls(api, &ty, "Node", buf);
    }

    fn write_server_trait(&self, buf: &mut String) {
        let api = self.api;
        let _ = writeln!(
            buf,
            "/// The server side of `{}`: one handler per method. Register an implementation \
             with [`register_{}_server`].",
            self.full_name,
            self.snake()
        );
        let _ = writeln!(
            buf,
            "///\n/// A sender's next request starts when the handler returns or calls \
             `ctx.release()`; an error is sent to the caller as its status; a panic fails only \
             that call."
        );
        let _ = writeln!(
            buf,
            "pub trait {}Server: Send + Sync + 'static {{",
            self.service.name
        );
        for call in self.calls {
            let m = call.method;
            let (input, output) = (&m.input_type, &m.output_type);
            write_comments(&m.comments, 1, buf);
            let result = match call.call_type {
                CallType::Rpc | CallType::QuorumCall => {
                    let _ = writeln!(buf, "    ///\n    /// Handles `{}`.", call.full_name);
                    format!("::std::result::Result<{output}, {api}::Status>")
                }
                CallType::Unicast | CallType::Multicast => {
                    let _ = writeln!(
                        buf,
                        "    ///\n    /// Handles the one-way `{}`; nothing is sent back.",
                        call.full_name
                    );
                    String::from("()")
                }
                CallType::Correctable => {
                    let _ = writeln!(
                        buf,
                        "    ///\n    /// Handles the correctable `{}`: send each `{output}` with \
                         `items.send`; returning ends the stream.",
                        call.full_name
                    );
                    format!("::std::result::Result<(), {api}::Status>")
                }
            };
            // A streaming handler's items go through a sender typed by the reply, so only
            // the method's output type can be sent.
            let items = if call.call_type == CallType::Correctable {
                format!(", items: {api}::ItemSender<{output}>")
            } else {
                String::new()
            };
            let _ = writeln!(
                buf,
                "    fn {}(&self, ctx: {api}::ServerCtx, request: {input}{items}) -> impl \
                 ::core::future::Future<Output = {result}> + Send;",
                call.fn_name
            );
        }
        let _ = writeln!(buf, "}}");
    }

    fn write_register(&self, buf: &mut String) {
        let api = self.api;
        let name = &self.service.name;
        let _ = writeln!(
            buf,
            "/// Registers `server` on `system` as the handler of every `{}` method.",
            self.full_name
        );
        let _ = writeln!(
            buf,
            "pub fn register_{}_server<T: {name}Server>(system: &{api}::System, server: \
             ::std::sync::Arc<T>) {{",
            self.snake()
        );
        for call in self.calls {
            let (input, output) = (&call.method.input_type, &call.method.output_type);
            let konst = format!("{}::{}", self.methods_module(), call.const_name);
            let (register, params, args) = match call.call_type {
                CallType::Rpc | CallType::QuorumCall => ("register_unary", String::new(), ""),
                CallType::Unicast | CallType::Multicast => ("register_one_way", String::new(), ""),
                CallType::Correctable => (
                    "register_stream",
                    format!(", items: {api}::ItemSender<{output}>"),
                    ", items",
                ),
            };
            let _ = writeln!(
                buf,
                "    {{ let server = ::std::sync::Arc::clone(&server); system.{register}({konst}, \
                 move |ctx: {api}::ServerCtx, request: {input}{params}| {{ let server = \
                 ::std::sync::Arc::clone(&server); async move {{ server.{}(ctx, request{args}).await }} \
                 }}); }}",
                call.fn_name
            );
        }
        let _ = writeln!(buf, "    let _ = (system, server);");
        let _ = writeln!(buf, "}}");
    }
}

/// `Deref`, `From` both ways and `Debug` for a generated wrapper of `{api}::{inner}`.
fn write_newtype_impls(api: &str, ty: &str, inner: &str, buf: &mut String) {
    let _ = writeln!(
        buf,
        "impl ::core::ops::Deref for {ty} {{ type Target = {api}::{inner}; \
         fn deref(&self) -> &{api}::{inner} {{ &self.0 }} }}"
    );
    let _ = writeln!(
        buf,
        "impl ::core::convert::From<{api}::{inner}> for {ty} {{ \
         fn from(inner: {api}::{inner}) -> Self {{ Self(inner) }} }}"
    );
    let _ = writeln!(
        buf,
        "impl ::core::convert::From<{ty}> for {api}::{inner} {{ \
         fn from(outer: {ty}) -> Self {{ outer.0 }} }}"
    );
    let _ = writeln!(
        buf,
        "impl ::core::fmt::Debug for {ty} {{ fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) \
         -> ::core::fmt::Result {{ ::core::fmt::Debug::fmt(&self.0, f) }} }}"
    );
}

/// Writes the `.proto` comments as doc comments at `indent` levels of four spaces.
fn write_comments(comments: &Comments, indent: u8, buf: &mut String) {
    comments.append_with_indent(indent, buf);
}

/// `StorageService` → `storage_service`, as prost names modules.
fn snake_case(name: &str) -> String {
    heck::ToSnakeCase::to_snake_case(name)
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("Storage"), "storage");
        assert_eq!(snake_case("KeyValueStore"), "key_value_store");
        assert_eq!(snake_case("QCStorage"), "qc_storage");
    }
}
