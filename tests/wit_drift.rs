//! The WIT in `wit/` is the contract; the Rust types mirror it. These tests
//! parse the WIT (with `wit/deps/`) and fail, saying exactly what differs,
//! when a case, flag or field is added, removed, renamed or reordered on
//! one side only, or when a function of the contract is undocumented.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wit_parser::{
    Docs, FunctionKind, Interface, InterfaceId, PackageId, Resolve, Type as WitType, TypeDefKind,
};
use witsock::{
    capabilities, Domain, ErrorCode, Interest, OptionName, Protocol, Readiness, RecvFlags,
    SendFlags, Shutdown, Support, Type,
};

/// The contract's directory; `deps/` holds wasi:io.
const WIT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/wit");

/// The parsed contract.
struct Contract {
    resolve: Resolve,
    package: PackageId,
}

impl Contract {
    fn load() -> Contract {
        Contract::load_from(Path::new(WIT_DIR))
    }

    fn load_from(dir: &Path) -> Contract {
        let mut resolve = Resolve::default();
        let (package, _sources) = resolve
            .push_dir(dir)
            .unwrap_or_else(|e| panic!("{} does not parse as a WIT package: {e:?}", dir.display()));
        Contract { resolve, package }
    }

    fn interface_id(&self, name: &str) -> InterfaceId {
        let package = &self.resolve.packages[self.package];
        *package
            .interfaces
            .get(name)
            .unwrap_or_else(|| panic!("the WIT package {} has no interface `{name}`", package.name))
    }

    fn interface(&self, name: &str) -> &Interface {
        &self.resolve.interfaces[self.interface_id(name)]
    }

    /// The definition of a named type of an interface.
    fn kind(&self, interface: &str, ty: &str) -> &TypeDefKind {
        let id = self
            .interface(interface)
            .types
            .get(ty)
            .unwrap_or_else(|| panic!("the WIT interface `{interface}` has no type `{ty}`"));
        &self.resolve.types[*id].kind
    }

    fn enum_cases(&self, interface: &str, ty: &str) -> Vec<String> {
        match self.kind(interface, ty) {
            TypeDefKind::Enum(e) => e.cases.iter().map(|c| c.name.clone()).collect(),
            other => panic!("`{ty}` in the WIT is a {}, not an enum", other.as_str()),
        }
    }

    fn flag_names(&self, interface: &str, ty: &str) -> Vec<String> {
        match self.kind(interface, ty) {
            TypeDefKind::Flags(f) => f.flags.iter().map(|f| f.name.clone()).collect(),
            other => panic!("`{ty}` in the WIT is a {}, not flags", other.as_str()),
        }
    }

    /// A type with `use` aliases followed to the definition.
    fn dealias(&self, mut ty: WitType) -> WitType {
        while let WitType::Id(id) = ty {
            match self.resolve.types[id].kind {
                TypeDefKind::Type(inner) => ty = inner,
                _ => break,
            }
        }
        ty
    }

    /// The name of a named type (after aliases), or its kind for an
    /// anonymous one, for comparisons and messages.
    fn type_name(&self, ty: WitType) -> String {
        match self.dealias(ty) {
            WitType::Id(id) => {
                let def = &self.resolve.types[id];
                match &def.name {
                    Some(name) => name.clone(),
                    None => format!("<anonymous {}>", def.kind.as_str()),
                }
            }
            primitive => format!("{primitive:?}").to_lowercase(),
        }
    }
}

/// Compares the WIT's names with the Rust side's, in order, and panics
/// with every difference: names on one side only, and positions where the
/// two disagree.
fn assert_same_names(wit_what: &str, rust_what: &str, wit: &[String], rust: &[&str]) {
    let mut problems = Vec::new();
    let only_wit: Vec<&str> = wit
        .iter()
        .map(String::as_str)
        .filter(|w| !rust.contains(w))
        .collect();
    let only_rust: Vec<&str> = rust
        .iter()
        .copied()
        .filter(|r| !wit.iter().any(|w| w == r))
        .collect();
    if !only_wit.is_empty() {
        problems.push(format!("in the WIT but not in {rust_what}: {only_wit:?}"));
    }
    if !only_rust.is_empty() {
        problems.push(format!("in {rust_what} but not in the WIT: {only_rust:?}"));
    }
    if wit.len() != rust.len() {
        problems.push(format!(
            "the WIT has {} entries, {rust_what} has {}",
            wit.len(),
            rust.len()
        ));
    }
    for (i, (w, r)) in wit.iter().zip(rust).enumerate() {
        if w != r {
            problems.push(format!(
                "position {i}: the WIT has `{w}`, {rust_what} has `{r}`"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{wit_what} drifted from {rust_what}:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn error_code_matches_error_code_all() {
    check_error_code(&Contract::load());
}

fn check_error_code(c: &Contract) {
    let rust: Vec<&str> = ErrorCode::ALL.iter().map(|e| e.wit_name()).collect();
    assert_same_names(
        "`error-code` in wit/types.wit",
        "witsock::ErrorCode::ALL",
        &c.enum_cases("types", "error-code"),
        &rust,
    );
}

#[test]
fn option_name_matches_option_name_all() {
    let c = Contract::load();
    let rust: Vec<&str> = OptionName::ALL.iter().map(|o| o.wit_name()).collect();
    assert_same_names(
        "`option-name` in wit/types.wit",
        "witsock::OptionName::ALL",
        &c.enum_cases("types", "option-name"),
        &rust,
    );
}

#[test]
fn option_value_has_one_case_per_option_name() {
    let c = Contract::load();
    let TypeDefKind::Variant(variant) = c.kind("types", "option-value") else {
        panic!("`option-value` in the WIT is not a variant");
    };
    let cases: Vec<String> = variant.cases.iter().map(|c| c.name.clone()).collect();
    let rust: Vec<&str> = OptionName::ALL.iter().map(|o| o.wit_name()).collect();
    assert_same_names(
        "the cases of `option-value` in wit/types.wit",
        "the names of witsock::OptionName::ALL",
        &cases,
        &rust,
    );
    let without_value: Vec<&str> = variant
        .cases
        .iter()
        .filter(|c| c.ty.is_none())
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        without_value.is_empty(),
        "`option-value` cases without a value: {without_value:?}"
    );
}

#[test]
fn small_enums_match() {
    check_small_enums(&Contract::load());
}

fn check_small_enums(c: &Contract) {
    let pairs: [(&str, &str, Vec<&str>); 5] = [
        (
            "address-family",
            "witsock::Domain::ALL",
            Domain::ALL.iter().map(|d| d.wit_name()).collect(),
        ),
        (
            "socket-type",
            "witsock::Type::ALL",
            Type::ALL.iter().map(|t| t.wit_name()).collect(),
        ),
        (
            "protocol",
            "witsock::Protocol::ALL",
            Protocol::ALL.iter().map(|p| p.wit_name()).collect(),
        ),
        (
            "shutdown-how",
            "witsock::Shutdown::ALL",
            Shutdown::ALL.iter().map(|s| s.wit_name()).collect(),
        ),
        (
            "support",
            "witsock::Support::ALL",
            Support::ALL.iter().map(|s| s.wit_name()).collect(),
        ),
    ];
    for (wit, rust_what, rust) in pairs {
        assert_same_names(
            &format!("`{wit}` in wit/types.wit"),
            rust_what,
            &c.enum_cases("types", wit),
            &rust,
        );
    }
}

/// A bit set's flags as (WIT name, bit), from its `FLAGS` list.
type FlagBits = Vec<(&'static str, u8)>;

fn flag_bits<T: Copy>(flags: &[(&'static str, T)], bits: fn(T) -> u8) -> FlagBits {
    flags
        .iter()
        .map(|&(name, flag)| (name, bits(flag)))
        .collect()
}

#[test]
fn flags_match_names_and_bit_order() {
    check_flags(&Contract::load());
}

fn check_flags(c: &Contract) {
    let sets: [(&str, &str, FlagBits); 4] = [
        (
            "receive-flags",
            "witsock::RecvFlags::FLAGS",
            flag_bits(RecvFlags::FLAGS, RecvFlags::bits),
        ),
        (
            "send-flags",
            "witsock::SendFlags::FLAGS",
            flag_bits(SendFlags::FLAGS, SendFlags::bits),
        ),
        (
            "interest",
            "witsock::Interest::FLAGS",
            flag_bits(Interest::FLAGS, Interest::bits),
        ),
        (
            "readiness",
            "witsock::Readiness::FLAGS",
            flag_bits(Readiness::FLAGS, Readiness::bits),
        ),
    ];
    for (wit, rust_what, flags) in sets {
        let (names, bits): (Vec<&str>, Vec<u8>) = flags.into_iter().unzip();
        assert_same_names(
            &format!("`{wit}` in wit/types.wit"),
            rust_what,
            &c.flag_names("types", wit),
            &names,
        );
        // The component model gives flag i bit 1 << i; the Rust constants
        // must agree so that a host can pass the bits straight through.
        for (i, (name, bit)) in names.iter().zip(&bits).enumerate() {
            assert_eq!(
                u32::from(*bit),
                1u32 << i,
                "{rust_what}: flag `{name}` is WIT flag {i} and must be bit {:#x}, \
                 but is {bit:#x}",
                1u32 << i
            );
        }
    }
}

#[test]
fn capabilities_record_matches_capabilities_fields() {
    let c = Contract::load();
    let TypeDefKind::Record(record) = c.kind("sockets", "capabilities") else {
        panic!("`capabilities` in wit/sockets.wit is not a record");
    };
    let wit_fields: Vec<String> = record
        .fields
        .iter()
        .map(|f| f.name.clone())
        .filter(|name| name != "options")
        .collect();
    let caps = capabilities();
    let rust: Vec<&str> = caps.features().iter().map(|(name, _)| *name).collect();
    assert_same_names(
        "the fields of `capabilities` in wit/sockets.wit (but `options`)",
        "witsock::Capabilities::features() (every public field but `backend`)",
        &wit_fields,
        &rust,
    );
    for field in &record.fields {
        if field.name == "options" {
            continue;
        }
        assert_eq!(
            c.type_name(field.ty),
            "support",
            "`capabilities.{}` in the WIT is not a `support`",
            field.name
        );
    }

    // `options` is the per-option table, which the Rust side answers with
    // `Capabilities::option` for each `OptionName` (checked against
    // `option-name` above).
    let options = record
        .fields
        .iter()
        .find(|f| f.name == "options")
        .expect("`capabilities` in the WIT has no `options` field");
    let WitType::Id(list) = c.dealias(options.ty) else {
        panic!("`capabilities.options` in the WIT is not a list");
    };
    let TypeDefKind::List(element) = c.resolve.types[list].kind else {
        panic!("`capabilities.options` in the WIT is not a list");
    };
    let WitType::Id(tuple) = c.dealias(element) else {
        panic!("`capabilities.options` in the WIT is not a list of tuples");
    };
    let TypeDefKind::Tuple(tuple) = &c.resolve.types[tuple].kind else {
        panic!("`capabilities.options` in the WIT is not a list of tuples");
    };
    let members: Vec<String> = tuple.types.iter().map(|t| c.type_name(*t)).collect();
    assert_eq!(
        members,
        ["option-name", "support"],
        "`capabilities.options` in the WIT must be list<tuple<option-name, support>>"
    );
}

/// True when `docs` name a call like `bind(2)` or `getaddrinfo(3)`.
fn names_a_posix_call(docs: &str) -> bool {
    let bytes = docs.as_bytes();
    bytes.windows(3).enumerate().any(|(i, w)| {
        w[0] == b'('
            && w[1].is_ascii_digit()
            && w[2] == b')'
            && i > 0
            && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
    })
}

fn doc_text(docs: &Docs) -> &str {
    docs.contents.as_deref().unwrap_or("").trim()
}

#[test]
fn every_contract_function_is_documented() {
    check_function_docs(&Contract::load());
}

fn check_function_docs(c: &Contract) {
    let sockets = c.interface("sockets");
    let mut problems = Vec::new();
    let mut resource_functions = 0;
    let mut free_functions = 0;
    for func in sockets.functions.values() {
        let docs = doc_text(&func.docs);
        let on_resource = matches!(
            func.kind,
            FunctionKind::Method(_)
                | FunctionKind::AsyncMethod(_)
                | FunctionKind::Static(_)
                | FunctionKind::AsyncStatic(_)
                | FunctionKind::Constructor(_)
                | FunctionKind::MethodGetter(_)
                | FunctionKind::MethodSetter(_)
        );
        let name = if on_resource {
            resource_functions += 1;
            format!("socket.{}", func.item_name())
        } else {
            free_functions += 1;
            func.name.clone()
        };
        if docs.is_empty() {
            problems.push(format!("`{name}` has no documentation"));
            continue;
        }
        let lower = docs.to_lowercase();
        if on_resource
            && !names_a_posix_call(docs)
            && !lower.contains("built")
            && !lower.contains("emulated")
        {
            problems.push(format!(
                "`{name}`'s documentation names no POSIX call (like `bind(2)`) and does not \
                 say what it is built from or emulated with"
            ));
        }
    }
    assert!(
        resource_functions > 0 && free_functions > 0,
        "wit/sockets.wit: found {resource_functions} socket functions and {free_functions} \
         free functions; expected both"
    );
    assert!(
        problems.is_empty(),
        "wit/sockets.wit breaks the documentation rule:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_contract_type_case_field_and_flag_is_documented() {
    let c = Contract::load();
    let mut problems = Vec::new();
    for interface in ["types", "sockets"] {
        let iface = c.interface(interface);
        if doc_text(&iface.docs).is_empty() {
            problems.push(format!("interface `{interface}`"));
        }
        for (name, id) in &iface.types {
            let def = &c.resolve.types[*id];
            // A `use` brings in a type that is documented where it is
            // defined, in another interface.
            if let TypeDefKind::Type(WitType::Id(target)) = def.kind {
                let target = &c.resolve.types[target];
                if target.name.is_some() && target.owner != def.owner {
                    continue;
                }
            }
            if doc_text(&def.docs).is_empty() {
                problems.push(format!("{interface}: type `{name}`"));
            }
            let members: Vec<(&str, &Docs)> = match &def.kind {
                TypeDefKind::Enum(e) => {
                    e.cases.iter().map(|x| (x.name.as_str(), &x.docs)).collect()
                }
                TypeDefKind::Variant(v) => {
                    v.cases.iter().map(|x| (x.name.as_str(), &x.docs)).collect()
                }
                TypeDefKind::Record(r) => r
                    .fields
                    .iter()
                    .map(|x| (x.name.as_str(), &x.docs))
                    .collect(),
                TypeDefKind::Flags(f) => {
                    f.flags.iter().map(|x| (x.name.as_str(), &x.docs)).collect()
                }
                _ => Vec::new(),
            };
            for (member, docs) in members {
                if doc_text(docs).is_empty() {
                    problems.push(format!("{interface}: `{name}.{member}`"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "undocumented in the WIT:\n  {}",
        problems.join("\n  ")
    );
}

/// The errno names in a piece of documentation: `EAGAIN`, `EPIPE`, …
/// (resolver codes such as `EAI_NONAME` are not errnos and are skipped).
fn errno_names(docs: &str) -> Vec<&str> {
    docs.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
        .filter(|w| w.len() >= 4 && w.starts_with('E') && w.bytes().all(|b| b.is_ascii_uppercase()))
        .collect()
}

/// Names the WIT may use for an errno that this platform's table lists
/// under another name with the same number.
const ERRNO_ALIASES: &[(&str, &str)] = &[
    ("EWOULDBLOCK", "EAGAIN"),
    #[cfg(target_os = "linux")]
    ("ENOTSUP", "EOPNOTSUPP"),
];

#[test]
fn error_code_docs_name_the_native_errnos() {
    check_errno_docs(&Contract::load());
}

fn check_errno_docs(c: &Contract) {
    let TypeDefKind::Enum(error_code) = c.kind("types", "error-code") else {
        panic!("`error-code` in the WIT is not an enum");
    };
    // The native table, by name: every errno witsock names on this
    // platform, with the case it maps to.
    let mut native: BTreeMap<&'static str, (i32, ErrorCode)> = BTreeMap::new();
    for raw in 1..4096 {
        if let Some(name) = witsock::errno::errno_name(raw) {
            native.insert(name, (raw, witsock::errno::error_code(raw)));
        }
    }
    assert!(
        native.len() > 20,
        "the native errno table names only {} errnos",
        native.len()
    );

    // The cases whose docs name each errno.
    let mut named_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &error_code.cases {
        for errno in errno_names(doc_text(&case.docs)) {
            let errno = ERRNO_ALIASES
                .iter()
                .find(|(alias, _)| *alias == errno)
                .map_or(errno, |(_, canonical)| canonical);
            named_by
                .entry(errno.to_string())
                .or_default()
                .push(case.name.clone());
        }
    }

    let mut problems = Vec::new();
    for (errno, cases) in &named_by {
        match native.get(errno.as_str()) {
            None => problems.push(format!(
                "{errno} is named in the WIT docs of {cases:?} but the native errno table \
                 does not know it (it maps to `other`)"
            )),
            Some((raw, code)) if !cases.iter().any(|c| c == code.wit_name()) => {
                problems.push(format!(
                    "{errno} ({raw}) is named in the WIT docs of {cases:?} but maps to `{}`",
                    code.wit_name()
                ))
            }
            Some(_) => {}
        }
    }
    for (errno, (raw, code)) in &native {
        let documented = named_by
            .get(*errno)
            .is_some_and(|cases| cases.iter().any(|c| c == code.wit_name()));
        if *code != ErrorCode::Other && !documented {
            problems.push(format!(
                "{errno} ({raw}) maps to `{}`, whose WIT docs do not name it",
                code.wit_name()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the errno table and the `error-code` docs in wit/types.wit disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// A copy of `wit/` with text replaced, in a temp dir removed on drop.
struct MutatedWit(PathBuf);

impl MutatedWit {
    /// `edits` are (file under `wit/`, text, replacement); each text must
    /// occur exactly once.
    fn new(tag: &str, edits: &[(&str, &str, &str)]) -> MutatedWit {
        let dir = std::env::temp_dir().join(format!("witsock-wit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(Path::new(WIT_DIR), &dir);
        for (file, from, to) in edits {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
            std::fs::write(&path, text.replace(from, to)).unwrap();
        }
        MutatedWit(dir)
    }
}

impl Drop for MutatedWit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The panic message of `check` run on `contract`; fails if it passed.
fn failure_of(check: fn(&Contract), contract: &Contract) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(contract)))
        .expect_err("the check passed on a drifted WIT");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn assert_mentions(message: &str, expected: &[&str]) {
    for part in expected {
        assert!(
            message.contains(part),
            "the failure message does not say {part:?}:\n{message}"
        );
    }
}

#[test]
fn drift_is_caught_and_said_exactly() {
    let wit = MutatedWit::new(
        "drift",
        &[
            // A renamed error case.
            (
                "types.wit",
                "        timed-out,\n",
                "        deadline-passed,\n",
            ),
            // Two families swapped.
            ("types.wit", "        ipv4,\n", "        @v4@,\n"),
            ("types.wit", "        ipv6,\n", "        ipv4,\n"),
            ("types.wit", "        @v4@,\n", "        ipv6,\n"),
            // A renamed flag.
            ("types.wit", "        hang-up,\n", "        hung-up,\n"),
            // An errno dropped from the docs.
            ("types.wit", "ECONNABORTED, EPROTO.", "ECONNABORTED."),
            // A method whose docs name no call.
            (
                "sockets.wit",
                "as `wait` (poll(2)) reports it",
                "as `wait` reports it",
            ),
        ],
    );
    let c = Contract::load_from(&wit.0);

    let message = failure_of(check_error_code, &c);
    assert_mentions(
        &message,
        &[
            "in the WIT but not in witsock::ErrorCode::ALL: [\"deadline-passed\"]",
            "in witsock::ErrorCode::ALL but not in the WIT: [\"timed-out\"]",
            "position 11: the WIT has `deadline-passed`, witsock::ErrorCode::ALL has `timed-out`",
        ],
    );
    let message = failure_of(check_small_enums, &c);
    assert_mentions(
        &message,
        &[
            "`address-family` in wit/types.wit drifted from witsock::Domain::ALL",
            "position 0: the WIT has `ipv6`, witsock::Domain::ALL has `ipv4`",
            "position 1: the WIT has `ipv4`, witsock::Domain::ALL has `ipv6`",
        ],
    );
    let message = failure_of(check_flags, &c);
    assert_mentions(&message, &["`readiness`", "[\"hung-up\"]", "[\"hang-up\"]"]);
    let message = failure_of(check_function_docs, &c);
    assert_mentions(
        &message,
        &["`socket.subscribe`'s documentation names no POSIX call"],
    );
    let message = failure_of(check_errno_docs, &c);
    assert_mentions(
        &message,
        &[
            "EPROTO (",
            "maps to `connection-aborted`, whose WIT docs do not name it",
        ],
    );
}
