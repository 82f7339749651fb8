//! VI/JSON, the vim25 API over JSON that vCenter 8.0U1 and later serves beside SOAP: a
//! request body read into the same [`Element`] tree a SOAP request gives (so one set of
//! method handlers serves both), answers and faults written as JSON.
//!
//! The shapes are vCenter's: every data object carries `_typeName` first, a managed object
//! reference is `{"_typeName":"ManagedObjectReference","type":…,"value":…}`, and a value in
//! a position of type `anyType` that is not a data object is wrapped as
//! `{"_typeName":"string","_value":…}` (arrays as `ArrayOfX`).

use serde_json::Value;

use super::Fault;
use super::xml::{Element, Val, time};

/// The VI/JSON releases served, newest first, and the one answered when a client asks for
/// none of them.
pub(crate) const RELEASES: &[&str] = &["8.0.3.0", "8.0.2.0", "8.0.1.0"];

/// Answer to `POST /api/vcenter/system?action=hello`: the newest release both sides know,
/// or an empty release when there is none (as vCenter answers).
pub(crate) fn hello(body: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let asked: Vec<&str> = v
        .get("api_releases")
        .and_then(Value::as_array)
        .ok_or("no api_releases")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let chosen = RELEASES
        .iter()
        .find(|r| asked.contains(r))
        .copied()
        .unwrap_or("");
    Ok(serde_json::json!({ "api_release": chosen }).to_string())
}

/// A method's parameters (a JSON object, or nothing) as the request element `method`.
pub(crate) fn request(method: &str, body: &[u8]) -> Result<Element, String> {
    let mut el = Element {
        name: method.to_string(),
        ..Element::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(el);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(fields) = v else {
        return Err("the parameters are not a JSON object".into());
    };
    for (k, v) in &fields {
        if k != "_typeName" {
            push(&mut el.children, k, v);
        }
    }
    Ok(el)
}

/// Add `v` as element(s) named `name`: an array as repeated elements, `null` as none.
fn push(children: &mut Vec<Element>, name: &str, v: &Value) {
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for i in items {
                push(children, name, i);
            }
        }
        other => children.push(element(name, other)),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn element(name: &str, v: &Value) -> Element {
    let mut el = Element {
        name: name.to_string(),
        ..Element::default()
    };
    let Value::Object(fields) = v else {
        el.text = scalar(v);
        return el;
    };
    let type_name = fields.get("_typeName").and_then(Value::as_str);
    let is_ref = type_name == Some("ManagedObjectReference")
        || (type_name.is_none()
            && fields.len() == 2
            && fields.get("type").is_some_and(Value::is_string)
            && fields.get("value").is_some_and(Value::is_string));
    if is_ref {
        let kind = fields.get("type").map(scalar).unwrap_or_default();
        el.attrs.push(("type".into(), kind));
        el.text = fields.get("value").map(scalar).unwrap_or_default();
        return el;
    }
    if let Some(t) = type_name {
        el.attrs.push(("xsi:type".into(), t.to_string()));
    }
    if let Some(inner) = fields.get("_value") {
        // A wrapped `anyType` value: a primitive's text, or an array's items as SOAP
        // writes them (`ArrayOfString` holds `string` elements).
        match inner {
            Value::Array(items) => {
                let item = type_name
                    .and_then(|t| t.strip_prefix("ArrayOf"))
                    .map(lower_first)
                    .unwrap_or_else(|| "anyType".into());
                for i in items {
                    push(&mut el.children, &item, i);
                }
            }
            other => el.text = scalar(other),
        }
        return el;
    }
    for (k, v) in fields {
        if k != "_typeName" {
            push(&mut el.children, k, v);
        }
    }
    el
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}", f.to_ascii_lowercase(), c.as_str()),
        None => String::new(),
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}", f.to_ascii_uppercase(), c.as_str()),
        None => String::new(),
    }
}

fn string(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_string()).to_string());
}

/// `v` as JSON in a position of its own declared type.
pub(crate) fn write(v: &Val, out: &mut String) {
    match v {
        Val::Unset => out.push_str("null"),
        Val::Str(s) | Val::Enum(_, s) => string(out, s),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Long(i) => out.push_str(&i.to_string()),
        Val::Time(t) => string(out, &time(*t)),
        Val::Mor(kind, id) => {
            out.push_str("{\"_typeName\":\"ManagedObjectReference\",\"type\":");
            string(out, kind);
            out.push_str(",\"value\":");
            string(out, id);
            out.push('}');
        }
        Val::Obj(kind, fields) => {
            if *kind == "LocalizedMethodFault"
                && let Some(fault) = unwrap_localized(fields)
            {
                return write(&fault, out);
            }
            out.push_str("{\"_typeName\":");
            string(out, kind);
            for (name, field) in fields {
                // Unset fields and empty arrays are left out, as in SOAP.
                match field {
                    Val::Unset => continue,
                    Val::Any(inner) if matches!(**inner, Val::Unset) => continue,
                    Val::List(_, items) if items.is_empty() => continue,
                    _ => {}
                }
                out.push(',');
                string(out, name);
                out.push(':');
                write(field, out);
            }
            out.push('}');
        }
        Val::List(_, items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Val::Any(inner) => write_any(inner, out),
    }
}

/// `v` in a position of type `anyType`: data objects and references carry their type
/// already; anything else is wrapped with its type name.
fn write_any(v: &Val, out: &mut String) {
    let wrap = |out: &mut String, type_name: &str, v: &Val| {
        out.push_str("{\"_typeName\":");
        string(out, type_name);
        out.push_str(",\"_value\":");
        write(v, out);
        out.push('}');
    };
    match v {
        Val::Unset => out.push_str("null"),
        Val::Mor(..) | Val::Obj(..) => write(v, out),
        Val::Any(inner) => write_any(inner, out),
        Val::Str(_) => wrap(out, "string", v),
        Val::Bool(_) => wrap(out, "boolean", v),
        Val::Int(_) => wrap(out, "int", v),
        Val::Long(_) => wrap(out, "long", v),
        Val::Time(_) => wrap(out, "dateTime", v),
        Val::Enum(t, _) => wrap(out, t, v),
        Val::List(item, _) => wrap(out, &format!("ArrayOf{}", upper_first(item)), v),
    }
}

/// The JSON of one value.
pub(crate) fn to_string(v: &Val) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// A fault as the body of an error answer, as vCenter sends it: the fault object with its
/// type first, its text in `faultstring`, then its fields.
pub(crate) fn fault(f: &Fault) -> String {
    to_string(&fault_object(f.kind, &f.message, &f.fields))
}

/// The VI/JSON form of a fault: VI/JSON has no `LocalizedMethodFault`; where SOAP sends one
/// (a task's `info.error`), vCenter sends the fault itself with the text in `faultstring`.
fn fault_object(kind: &'static str, message: &str, fields: &[(&'static str, Val)]) -> Val {
    let mut all = vec![("faultstring", Val::str(message))];
    all.extend(fields.iter().cloned());
    Val::Obj(kind, all)
}

/// A `LocalizedMethodFault` as VI/JSON sends it (see [`fault_object`]).
fn unwrap_localized(fields: &[(&'static str, Val)]) -> Option<Val> {
    let message = fields.iter().find_map(|(n, v)| match v {
        Val::Str(s) if *n == "localizedMessage" => Some(s.as_str()),
        _ => None,
    });
    let fault = fields
        .iter()
        .find_map(|(n, v)| (*n == "fault").then_some(v))?;
    let (kind, inner) = match fault {
        Val::Any(inner) => match &**inner {
            Val::Obj(kind, inner) => (*kind, inner),
            _ => return None,
        },
        Val::Obj(kind, inner) => (*kind, inner),
        _ => return None,
    };
    Some(fault_object(kind, message.unwrap_or(""), inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parameters_as_the_soap_request_tree() {
        let body = br#"{"_typeName":"RetrievePropertiesExRequestType","specSet":[{"_typeName":"PropertyFilterSpec",
            "propSet":[{"_typeName":"PropertySpec","type":"VirtualMachine","all":false,"pathSet":["name","runtime.powerState"]}],
            "objectSet":[{"_typeName":"ObjectSpec","obj":{"_typeName":"ManagedObjectReference","type":"ContainerView","value":"session[x]1"},
              "skip":true,"selectSet":[{"_typeName":"TraversalSpec","name":"view","type":"ContainerView","path":"view","skip":false}]}]}],
            "options":{"_typeName":"RetrieveOptions","maxObjects":50},"extra":null}"#;
        let el = request("RetrievePropertiesEx", body).unwrap();
        assert_eq!(el.name, "RetrievePropertiesEx");
        assert!(el.child("extra").is_none(), "null is left out");
        let spec = el.child("specSet").unwrap();
        assert_eq!(spec.xsi_type(), Some("PropertyFilterSpec"));
        let prop = spec.child("propSet").unwrap();
        assert_eq!(prop.child_text("type"), Some("VirtualMachine"));
        assert_eq!(prop.child_bool("all"), Some(false));
        let paths: Vec<&str> = prop
            .children_named("pathSet")
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(paths, ["name", "runtime.powerState"]);
        let obj = spec.child("objectSet").unwrap();
        assert_eq!(
            obj.child("obj").unwrap().moref(),
            Some(("ContainerView".into(), "session[x]1".into()))
        );
        let traversal = obj.child("selectSet").unwrap();
        assert_eq!(traversal.xsi_type(), Some("TraversalSpec"));
        // A traversal spec has a `type` but is no reference.
        assert_eq!(traversal.child_text("type"), Some("ContainerView"));
        assert_eq!(traversal.child_text("path"), Some("view"));
        assert_eq!(
            el.child("options").unwrap().child_text("maxObjects"),
            Some("50")
        );
        assert_eq!(
            request("ConsolidateVMDisks_Task", b"").unwrap().children,
            []
        );
        assert!(request("X", b"[1]").is_err());
        assert!(request("X", b"{").is_err());
    }

    #[test]
    fn writes_values_with_type_names_and_wraps_any() {
        let v = Val::Obj(
            "ObjectContent",
            vec![
                ("obj", Val::mor("VirtualMachine", "vm-1")),
                ("missing", Val::Unset),
                ("none", Val::List("DynamicProperty", vec![])),
                (
                    "propSet",
                    Val::List(
                        "DynamicProperty",
                        vec![
                            Val::Obj(
                                "DynamicProperty",
                                vec![
                                    ("name", Val::str("name")),
                                    ("val", Val::Any(Box::new(Val::str("a\"b")))),
                                ],
                            ),
                            Val::Obj(
                                "DynamicProperty",
                                vec![
                                    ("name", Val::str("runtime.powerState")),
                                    (
                                        "val",
                                        Val::Any(Box::new(Val::Enum(
                                            "VirtualMachinePowerState",
                                            "poweredOn".into(),
                                        ))),
                                    ),
                                ],
                            ),
                            Val::Obj(
                                "DynamicProperty",
                                vec![
                                    ("name", Val::str("snapshot.rootSnapshotList")),
                                    (
                                        "val",
                                        Val::Any(Box::new(Val::List(
                                            "ManagedObjectReference",
                                            vec![Val::mor("VirtualMachineSnapshot", "snapshot-1")],
                                        ))),
                                    ),
                                ],
                            ),
                        ],
                    ),
                ),
                ("count", Val::Long(-3)),
                ("ok", Val::Bool(true)),
            ],
        );
        let json: Value = serde_json::from_str(&to_string(&v)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "_typeName": "ObjectContent",
                "obj": {"_typeName": "ManagedObjectReference", "type": "VirtualMachine", "value": "vm-1"},
                "propSet": [
                    {"_typeName": "DynamicProperty", "name": "name",
                     "val": {"_typeName": "string", "_value": "a\"b"}},
                    {"_typeName": "DynamicProperty", "name": "runtime.powerState",
                     "val": {"_typeName": "VirtualMachinePowerState", "_value": "poweredOn"}},
                    {"_typeName": "DynamicProperty", "name": "snapshot.rootSnapshotList",
                     "val": {"_typeName": "ArrayOfManagedObjectReference", "_value": [
                        {"_typeName": "ManagedObjectReference", "type": "VirtualMachineSnapshot", "value": "snapshot-1"}]}}
                ],
                "count": -3,
                "ok": true
            })
        );
        // `_typeName` comes first, so a reader learns the type before the fields.
        assert!(to_string(&v).starts_with("{\"_typeName\":\"ObjectContent\","));
    }

    #[test]
    fn faults_carry_their_type_fields_and_message() {
        let f = Fault::new("TaskInProgress", "Another task is already in progress.")
            .with("task", Val::mor("Task", "task-9"));
        let json: Value = serde_json::from_str(&fault(&f)).unwrap();
        assert_eq!(json["_typeName"], "TaskInProgress");
        assert_eq!(json["task"]["value"], "task-9");
        assert_eq!(json["faultstring"], "Another task is already in progress.");
        assert!(fault(&f).starts_with("{\"_typeName\":\"TaskInProgress\","));
    }

    #[test]
    fn a_task_error_is_the_fault_itself_with_its_faultstring() {
        // SOAP's LocalizedMethodFault has no VI/JSON form: vCenter sends the fault object.
        let f = Fault::new("NoDiskSpace", "Insufficient disk space on datastore 'ds1'.")
            .with("datastore", Val::str("ds1"));
        let json: Value =
            serde_json::from_str(&to_string(&Val::Any(Box::new(f.localized())))).unwrap();
        assert_eq!(json["_typeName"], "NoDiskSpace");
        assert_eq!(
            json["faultstring"],
            "Insufficient disk space on datastore 'ds1'."
        );
        assert_eq!(json["datastore"], "ds1");
        assert!(json.get("fault").is_none() && json.get("localizedMessage").is_none());
    }

    #[test]
    fn hello_picks_the_newest_common_release() {
        let ok = hello(br#"{"api_releases":["9.1.0.0","9.0.0.0","8.0.3.0","8.0.2.0"]}"#).unwrap();
        assert_eq!(ok, r#"{"api_release":"8.0.3.0"}"#);
        let none = hello(br#"{"api_releases":["7.0.3.0"]}"#).unwrap();
        assert_eq!(none, r#"{"api_release":""}"#);
        assert!(hello(b"{}").is_err());
    }
}
