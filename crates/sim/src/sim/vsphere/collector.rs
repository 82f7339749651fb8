//! The property collector's selection: filter specs as sent on the wire, the objects they
//! reach through traversal specs, and the property values they ask for.

use std::collections::HashSet;

use super::Fault;
use super::xml::{Element, Val};

/// A managed object: `(type, id)`.
pub(crate) type Obj = (String, String);

/// One `PropertySpec`.
#[derive(Clone, Debug)]
pub(crate) struct PropSpec {
    kind: String,
    all: bool,
    paths: Vec<String>,
}

/// A `TraversalSpec` or a `SelectionSpec` naming one.
#[derive(Clone, Debug)]
enum Selection {
    Traversal {
        id: usize,
        name: Option<String>,
        kind: String,
        path: String,
        skip: bool,
        select: Vec<Selection>,
    },
    Named(String),
}

/// One `ObjectSpec`.
#[derive(Clone, Debug)]
struct ObjSpec {
    obj: Obj,
    skip: bool,
    select: Vec<Selection>,
}

/// A `PropertyFilterSpec`.
#[derive(Clone, Debug)]
pub(crate) struct FilterSpec {
    props: Vec<PropSpec>,
    objects: Vec<ObjSpec>,
    /// `reportMissingObjectsInResults`: an unknown object is left out instead of faulting
    /// the call (as vCenter and vcsim do).
    report_missing: bool,
}

fn invalid(what: &str) -> Fault {
    Fault::invalid_argument(what)
}

fn parse_selection(e: &Element, next_id: &mut usize) -> Result<Selection, Fault> {
    let is_traversal = e.xsi_type() == Some("TraversalSpec") || e.child("path").is_some();
    let name = e
        .child_text("name")
        .filter(|n| !n.is_empty())
        .map(String::from);
    if !is_traversal {
        return name
            .map(Selection::Named)
            .ok_or_else(|| invalid("selectSet"));
    }
    *next_id += 1;
    let id = *next_id;
    let mut select = Vec::new();
    for s in e.children_named("selectSet") {
        select.push(parse_selection(s, next_id)?);
    }
    Ok(Selection::Traversal {
        id,
        name,
        kind: e.child_text("type").ok_or_else(|| invalid("type"))?.into(),
        path: e.child_text("path").ok_or_else(|| invalid("path"))?.into(),
        skip: e.child_bool("skip").unwrap_or(false),
        select,
    })
}

impl FilterSpec {
    /// Read a `PropertyFilterSpec` element.
    pub fn parse(e: &Element) -> Result<FilterSpec, Fault> {
        let mut props = Vec::new();
        for p in e.children_named("propSet") {
            props.push(PropSpec {
                kind: p.child_text("type").ok_or_else(|| invalid("type"))?.into(),
                all: p.child_bool("all").unwrap_or(false),
                paths: p
                    .children_named("pathSet")
                    .map(|x| x.text.trim().to_string())
                    .collect(),
            });
        }
        let mut objects = Vec::new();
        let mut next_id = 0;
        for o in e.children_named("objectSet") {
            let obj = o
                .child("obj")
                .and_then(|x| x.moref())
                .ok_or_else(|| invalid("obj"))?;
            let mut select = Vec::new();
            for s in o.children_named("selectSet") {
                select.push(parse_selection(s, &mut next_id)?);
            }
            objects.push(ObjSpec {
                obj,
                skip: o.child_bool("skip").unwrap_or(false),
                select,
            });
        }
        Ok(FilterSpec {
            props,
            objects,
            report_missing: e
                .child_bool("reportMissingObjectsInResults")
                .unwrap_or(false),
        })
    }
}

/// Whether an object of type `kind` is a `base`.
pub(crate) fn is_a(kind: &str, base: &str) -> bool {
    const ENTITIES: &[&str] = &["Folder", "Datacenter", "VirtualMachine", "Datastore"];
    kind == base
        || base == "ManagedObject"
        || (base == "ManagedEntity" && ENTITIES.contains(&kind))
        || (base == "ExtensibleManagedObject" && (ENTITIES.contains(&kind) || kind == "Task"))
        || (matches!(base, "View" | "ManagedObjectView") && kind == "ContainerView")
}

/// Where the collector reads objects from.
pub(crate) trait Source {
    /// Every property of an object, or `None` when it does not exist.
    fn object(&mut self, obj: &Obj) -> Option<Val>;
}

/// The references a property value holds (one, or a list of them).
fn references(v: &Val) -> Vec<Obj> {
    match v {
        Val::Mor(k, id) => vec![(k.clone(), id.clone())],
        Val::List(_, items) => items.iter().flat_map(references).collect(),
        Val::Any(inner) => references(inner),
        _ => Vec::new(),
    }
}

fn named<'a>(sels: &'a [Selection], out: &mut Vec<(&'a str, &'a Selection)>) {
    for s in sels {
        if let Selection::Traversal { name, select, .. } = s {
            if let Some(n) = name {
                out.push((n.as_str(), s));
            }
            named(select, out);
        }
    }
}

/// The objects a filter spec reaches, in order, without duplicates.
pub(crate) fn select(src: &mut dyn Source, spec: &FilterSpec) -> Result<Vec<Obj>, Fault> {
    let mut out: Vec<Obj> = Vec::new();
    let mut seen: HashSet<Obj> = HashSet::new();
    for os in &spec.objects {
        if src.object(&os.obj).is_none() {
            if spec.report_missing {
                continue;
            }
            return Err(Fault::not_found_object(&os.obj));
        }
        let mut names = Vec::new();
        named(&os.select, &mut names);
        if !os.skip && seen.insert(os.obj.clone()) {
            out.push(os.obj.clone());
        }
        let mut visited: HashSet<(Obj, usize)> = HashSet::new();
        let mut stack: Vec<(Obj, &[Selection])> = vec![(os.obj.clone(), &os.select)];
        while let Some((obj, sels)) = stack.pop() {
            for sel in sels {
                let ts = match sel {
                    Selection::Named(n) => match names.iter().find(|(k, _)| k == n) {
                        Some((_, t)) => *t,
                        None => return Err(invalid("selectSet")),
                    },
                    t => t,
                };
                let Selection::Traversal {
                    id,
                    kind,
                    path,
                    skip,
                    select,
                    ..
                } = ts
                else {
                    continue;
                };
                if !is_a(&obj.0, kind) {
                    continue;
                }
                let Some(val) = src.object(&obj) else {
                    continue;
                };
                let targets = match val.path(path) {
                    Ok(Some(v)) => references(v),
                    Ok(None) => Vec::new(),
                    Err(()) => return Err(Fault::invalid_property(path)),
                };
                for t in targets {
                    // A VM is reported each time the inventory lists it: an estate changed
                    // to hold two VMs with one id is served as such a broken server would
                    // (clients must notice, not collapse them). Anything else reached twice
                    // is reported once.
                    let vm = t.0 == "VirtualMachine";
                    if !vm && !visited.insert((t.clone(), *id)) {
                        continue;
                    }
                    if src.object(&t).is_none() {
                        continue;
                    }
                    if !skip && (seen.insert(t.clone()) || vm) {
                        out.push(t.clone());
                    }
                    stack.push((t, select.as_slice()));
                }
            }
        }
    }
    Ok(out)
}

/// Property values of one object: `(path, value)`, unset ones left out.
pub(crate) type Props = Vec<(String, Val)>;

/// The properties a spec asks of every object it reaches (objects no property spec
/// matches are left out, as vCenter does).
pub(crate) fn contents(
    src: &mut dyn Source,
    spec: &FilterSpec,
) -> Result<Vec<(Obj, Props)>, Fault> {
    let objects = select(src, spec)?;
    let mut out = Vec::new();
    for obj in objects {
        let matching: Vec<&PropSpec> = spec
            .props
            .iter()
            .filter(|p| is_a(&obj.0, &p.kind))
            .collect();
        if matching.is_empty() {
            continue;
        }
        let Some(val) = src.object(&obj) else {
            continue;
        };
        let mut paths: Vec<String> = Vec::new();
        for p in &matching {
            if p.all
                && let Val::Obj(_, fields) = &val
            {
                paths.extend(fields.iter().map(|(n, _)| n.to_string()));
            }
            paths.extend(p.paths.iter().cloned());
        }
        let mut props = Vec::new();
        let mut done = HashSet::new();
        for path in paths {
            if !done.insert(path.clone()) {
                continue;
            }
            match val.path(&path) {
                Ok(Some(v)) => props.push((path, v.clone())),
                Ok(None) => {}
                Err(()) => return Err(Fault::invalid_property(&path)),
            }
        }
        out.push((obj, props));
    }
    Ok(out)
}

/// An `ObjectContent` value.
pub(crate) fn object_content(obj: &Obj, props: &Props) -> Val {
    Val::Obj(
        "ObjectContent",
        vec![
            ("obj", Val::Mor(obj.0.clone(), obj.1.clone())),
            (
                "propSet",
                Val::List(
                    "DynamicProperty",
                    props
                        .iter()
                        .map(|(n, v)| {
                            Val::Obj(
                                "DynamicProperty",
                                vec![
                                    ("name", Val::str(n)),
                                    ("val", Val::Any(Box::new(v.clone()))),
                                ],
                            )
                        })
                        .collect(),
                ),
            ),
        ],
    )
}
