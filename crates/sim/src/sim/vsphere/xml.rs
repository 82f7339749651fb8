//! The XML of vim25 SOAP: a small element tree for requests, typed values for answers.

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::Reader;
use quick_xml::events::Event;

/// One element of a request, with its attributes by qualified name and its text.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Element {
    /// Local name (without the namespace prefix).
    pub name: String,
    /// Attributes as written (`type`, `xsi:type`, …) with their unescaped values.
    pub attrs: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Text content (concatenated, unescaped).
    pub text: String,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child with this name, trimmed.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// A boolean child (`true`/`1`), if present.
    pub fn child_bool(&self, name: &str) -> Option<bool> {
        self.child_text(name).map(|t| t == "true" || t == "1")
    }

    /// An unqualified attribute (`type` of a managed object reference).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The schema-instance type (`xsi:type`, whatever the prefix), without its prefix.
    pub fn xsi_type(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.ends_with(":type"))
            .map(|(_, v)| v.rsplit(':').next().unwrap_or(v.as_str()))
    }

    /// This element read as a managed object reference: `(type, value)`.
    pub fn moref(&self) -> Option<(String, String)> {
        let kind = self.attr("type")?;
        Some((kind.to_string(), self.text.trim().to_string()))
    }
}

fn local(qname: &str) -> String {
    match qname.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => qname.to_string(),
    }
}

fn element_of(e: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let mut el = Element {
        name: local(e.name().as_ref()),
        ..Element::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        let key = a.key.as_ref().to_string();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value: {e}"))?
            .into_owned();
        el.attrs.push((key, value));
    }
    Ok(el)
}

/// Parse a whole document into its root element.
pub(crate) fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => stack.push(element_of(&e)?),
            Event::Empty(e) => {
                let el = element_of(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(cur) = stack.last_mut() {
                    let raw = t.into_inner();
                    cur.text.push_str(&raw);
                }
            }
            Event::CData(t) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(cur) = stack.last_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        cur.text.push(c);
                    } else {
                        let name = r.into_inner().into_owned();
                        cur.text.push_str(match name.as_str() {
                            "lt" => "<",
                            "gt" => ">",
                            "amp" => "&",
                            "quot" => "\"",
                            "apos" => "'",
                            _ => return Err(format!("unknown entity &{name};")),
                        });
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "empty document".into())
}

/// Escape text for element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An `xsd:dateTime` as vCenter writes it.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A vim25 value to write: data objects, references, enums, arrays and primitives.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    /// `xsd:string`.
    Str(String),
    /// `xsd:boolean`.
    Bool(bool),
    /// `xsd:int`.
    Int(i32),
    /// `xsd:long`.
    Long(i64),
    /// `xsd:dateTime`.
    Time(DateTime<Utc>),
    /// An enum value and its type name.
    Enum(&'static str, String),
    /// A managed object reference: type and id.
    Mor(String, String),
    /// A data object: type name and fields in schema order.
    Obj(&'static str, Vec<(&'static str, Val)>),
    /// A list: the item type name (`string`, `ManagedObjectReference`, a data type) and items.
    List(&'static str, Vec<Val>),
    /// A field whose declared type is a base type: written with its `xsi:type`.
    Any(Box<Val>),
    /// An unset optional property or field: written as nothing.
    Unset,
}

impl Val {
    /// A managed object reference.
    pub fn mor(kind: &str, id: &str) -> Val {
        Val::Mor(kind.to_string(), id.to_string())
    }

    /// A string.
    pub fn str(s: impl Into<String>) -> Val {
        Val::Str(s.into())
    }

    /// An optional value: `Unset` when absent.
    pub fn opt(v: Option<Val>) -> Val {
        v.unwrap_or(Val::Unset)
    }

    fn xsi_type(&self) -> String {
        match self {
            Val::Str(_) => "xsd:string".into(),
            Val::Bool(_) => "xsd:boolean".into(),
            Val::Int(_) => "xsd:int".into(),
            Val::Long(_) => "xsd:long".into(),
            Val::Time(_) => "xsd:dateTime".into(),
            Val::Enum(t, _) | Val::Obj(t, _) => (*t).into(),
            Val::Mor(..) => "ManagedObjectReference".into(),
            Val::List(item, _) => {
                let mut c = item.chars();
                match c.next() {
                    Some(f) => format!("ArrayOf{}{}", f.to_ascii_uppercase(), c.as_str()),
                    None => "ArrayOfAnyType".into(),
                }
            }
            Val::Any(inner) => inner.xsi_type(),
            Val::Unset => "xsd:anyType".into(),
        }
    }

    /// Follow a property path (`runtime.powerState`) through data objects. `Err` when the
    /// path names no property; `Ok(None)` when it names an unset one.
    pub fn path(&self, path: &str) -> Result<Option<&Val>, ()> {
        let mut cur = self;
        for part in path.split('.') {
            cur = match cur {
                Val::Any(inner) => inner,
                other => other,
            };
            match cur {
                Val::Obj(_, fields) => match fields.iter().find(|(n, _)| *n == part) {
                    Some((_, v)) => cur = v,
                    None => return Err(()),
                },
                Val::Unset => return Ok(None),
                _ => return Err(()),
            }
        }
        match cur {
            Val::Unset => Ok(None),
            Val::Any(inner) if matches!(**inner, Val::Unset) => Ok(None),
            v => Ok(Some(v)),
        }
    }

    /// Write as element `name`; `typed` adds `xsi:type` (values of `anyType` positions).
    pub fn write(&self, out: &mut String, name: &str, typed: bool) {
        let open = |out: &mut String, extra: &str| {
            out.push('<');
            out.push_str(name);
            if typed {
                out.push_str(" xsi:type=\"");
                out.push_str(&self.xsi_type());
                out.push('"');
            }
            out.push_str(extra);
            out.push('>');
        };
        let close = |out: &mut String| {
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        };
        match self {
            Val::Unset => {}
            Val::Any(inner) => inner.write(out, name, true),
            Val::List(item, items) => {
                if typed {
                    open(out, "");
                    for i in items {
                        i.write(out, item, false);
                    }
                    close(out);
                } else {
                    for i in items {
                        i.write(out, name, false);
                    }
                }
            }
            Val::Mor(kind, id) => {
                open(out, &format!(" type=\"{}\"", escape(kind)));
                out.push_str(&escape(id));
                close(out);
            }
            Val::Obj(_, fields) => {
                open(out, "");
                for (n, v) in fields {
                    v.write(out, n, false);
                }
                close(out);
            }
            Val::Str(s) | Val::Enum(_, s) => {
                open(out, "");
                out.push_str(&escape(s));
                close(out);
            }
            Val::Bool(b) => {
                open(out, "");
                out.push_str(if *b { "true" } else { "false" });
                close(out);
            }
            Val::Int(i) => {
                open(out, "");
                out.push_str(&i.to_string());
                close(out);
            }
            Val::Long(i) => {
                open(out, "");
                out.push_str(&i.to_string());
                close(out);
            }
            Val::Time(t) => {
                open(out, "");
                out.push_str(&time(*t));
                close(out);
            }
        }
    }

    /// The value written as a typed `val`, for comparing versions of a property.
    pub fn fingerprint(&self) -> String {
        let mut s = String::new();
        self.write(&mut s, "v", true);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_soap_request_with_prefixes_and_entities() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><RenameSnapshot xmlns="urn:vim25" xsi:type="RenameSnapshotRequestType"><_this type="VirtualMachineSnapshot">snapshot-1</_this><name>a &amp; b &#x263A;</name><description/></RenameSnapshot></soapenv:Body></soapenv:Envelope>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Envelope");
        let call = &root.child("Body").unwrap().children[0];
        assert_eq!(call.name, "RenameSnapshot");
        assert_eq!(call.xsi_type(), Some("RenameSnapshotRequestType"));
        assert_eq!(
            call.child("_this").unwrap().moref(),
            Some(("VirtualMachineSnapshot".into(), "snapshot-1".into()))
        );
        assert_eq!(call.child_text("name"), Some("a & b \u{263a}"));
        assert_eq!(call.child_text("description"), Some(""));
        assert!(parse("<a><b></a>").is_err());
    }

    #[test]
    fn writes_typed_values_and_follows_paths() {
        let v = Val::Obj(
            "VirtualMachineRuntimeInfo",
            vec![
                (
                    "powerState",
                    Val::Enum("VirtualMachinePowerState", "poweredOn".into()),
                ),
                ("host", Val::Unset),
                ("list", Val::List("string", vec![Val::str("a<")])),
            ],
        );
        let mut out = String::new();
        v.path("powerState")
            .unwrap()
            .unwrap()
            .write(&mut out, "val", true);
        assert_eq!(
            out,
            r#"<val xsi:type="VirtualMachinePowerState">poweredOn</val>"#
        );
        assert_eq!(v.path("host"), Ok(None));
        assert!(v.path("nope").is_err());
        assert!(v.path("powerState.x").is_err());
        let mut out = String::new();
        v.path("list")
            .unwrap()
            .unwrap()
            .write(&mut out, "val", true);
        assert_eq!(
            out,
            r#"<val xsi:type="ArrayOfString"><string>a&lt;</string></val>"#
        );
    }
}
