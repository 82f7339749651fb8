//! Raw vim25 SOAP requests to the vSphere simulator over HTTPS, trusting exactly the
//! certificate it made: version probes, login and sessions, paging, a tree read, live
//! updates, each snapshot operation's effect on the estate, and the faults vCenter raises.

use crate::common::demo_estate;
use std::time::{Duration, Instant};

use snaptree::model::PowerState;
use snaptree::sim::vsphere::{VsphereSimHandle, VsphereSimOptions, serve};

/// A SOAP caller that keeps the session cookie by hand, as a minimal client would.
struct Soap {
    http: reqwest::Client,
    url: String,
    cookie: Option<String>,
}

impl Soap {
    fn new(sim: &VsphereSimHandle) -> Soap {
        let cert = reqwest::Certificate::from_pem(sim.certificate_pem().as_bytes())
            .expect("the simulator's certificate parses");
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert)
            .build()
            .expect("client");
        Soap {
            http,
            url: sim.url().to_string(),
            cookie: None,
        }
    }

    async fn call(&mut self, method: &str, this: (&str, &str), params: &str) -> (u16, String) {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope \
             xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>\
             <{method} xmlns=\"urn:vim25\" xsi:type=\"{method}RequestType\">\
             <_this type=\"{}\">{}</_this>{params}</{method}></soapenv:Body></soapenv:Envelope>",
            this.0, this.1
        );
        let mut req = self
            .http
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "urn:vim25/8.0.3.0")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        let resp = req.send().await.expect("request sent");
        if let Some(set) = resp.headers().get("set-cookie") {
            let set = set.to_str().expect("ascii cookie");
            self.cookie = set.split(';').next().map(String::from);
        }
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    async fn ok(&mut self, method: &str, this: (&str, &str), params: &str) -> String {
        let (status, body) = self.call(method, this, params).await;
        assert_eq!(status, 200, "{method} failed: {body}");
        body
    }

    async fn fault(&mut self, method: &str, this: (&str, &str), params: &str) -> String {
        let (status, body) = self.call(method, this, params).await;
        assert_eq!(status, 500, "{method} should fail: {body}");
        fault_type(&body).unwrap_or_else(|| panic!("no typed fault in {body}"))
    }

    async fn login(&mut self) {
        self.login_as("demo", "demo").await;
    }

    /// Log in; the session's key.
    async fn login_as(&mut self, user: &str, password: &str) -> String {
        let body = self
            .ok(
                "Login",
                ("SessionManager", "SessionManager"),
                &format!("<userName>{user}</userName><password>{password}</password>"),
            )
            .await;
        assert!(
            body.contains(&format!("<userName>{user}</userName>")),
            "{body}"
        );
        assert!(self.cookie.is_some());
        between(&body, "<key>", "<")
            .unwrap_or_else(|| panic!("no session key in {body}"))
            .to_string()
    }

    /// Properties of one object: the raw `RetrievePropertiesEx` answer.
    async fn props(&mut self, kind: &str, id: &str, paths: &[&str]) -> String {
        let path_set: String = paths
            .iter()
            .map(|p| format!("<pathSet>{p}</pathSet>"))
            .collect();
        self.ok(
            "RetrievePropertiesEx",
            ("PropertyCollector", "propertyCollector"),
            &format!(
                "<specSet><propSet><type>{kind}</type>{path_set}</propSet>\
                 <objectSet><obj type=\"{kind}\">{id}</obj></objectSet></specSet><options/>"
            ),
        )
        .await
    }

    /// Follow a task through the property collector until it ends; its final `info`.
    async fn wait_task(&mut self, task_answer: &str) -> String {
        let id = between(task_answer, "<returnval type=\"Task\">", "<")
            .unwrap_or_else(|| panic!("no task in {task_answer}"))
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = self.props("Task", &id, &["info"]).await;
            if info.contains(">success</state>") || info.contains(">error</state>") {
                return info;
            }
            assert!(Instant::now() < deadline, "task {id} never ended: {info}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The text between two markers, first occurrence.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// The vim25 fault type in a SOAP fault's detail.
fn fault_type(body: &str) -> Option<String> {
    let detail = between(body, "<detail>", "</detail>")?;
    between(detail, "xsi:type=\"", "\"").map(String::from)
}

fn count(s: &str, needle: &str) -> usize {
    s.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_login_sessions_and_certificate() {
    let e = demo_estate(Duration::from_millis(200));
    let opts = VsphereSimOptions {
        idle_timeout: Duration::from_millis(1500),
        ..VsphereSimOptions::default()
    };
    let sim = serve(opts, e).await.expect("simulator");
    assert!(sim.url().starts_with("https://127.0.0.1:") && sim.url().ends_with("/sdk"));
    let thumb = sim.thumbprint();
    assert!(
        thumb.starts_with("SHA256:") && thumb.len() == 7 + 64,
        "{thumb}"
    );
    assert!(
        sim.certificate_pem()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let describe = sim.describe();
    assert!(
        describe.contains(thumb) && describe.contains("demo"),
        "{describe}"
    );
    assert!(
        describe.contains(&format!("url = \"https://{}\"", sim.addr())),
        "{describe}"
    );

    // Without the simulator's certificate, TLS refuses the server.
    let stranger = reqwest::Client::builder().build().expect("client");
    assert!(stranger.get(sim.url()).send().await.is_err());

    let mut soap = Soap::new(&sim);
    let base = sim.url().trim_end_matches("/sdk").to_string();
    let versions = soap
        .http
        .get(format!("{base}/sdk/vimServiceVersions.xml"))
        .send()
        .await
        .expect("versions")
        .text()
        .await
        .expect("text");
    assert!(versions.contains("<namespaces version=\"1.0\">") && versions.contains("8.0.3.0"));
    let wsdl = soap
        .http
        .get(format!("{base}/sdk/vimService.wsdl"))
        .send()
        .await
        .expect("wsdl");
    assert_eq!(wsdl.status().as_u16(), 200);

    let content = soap
        .ok(
            "RetrieveServiceContent",
            ("ServiceInstance", "ServiceInstance"),
            "",
        )
        .await;
    assert!(content.contains("<rootFolder type=\"Folder\">group-d1</rootFolder>"));
    assert!(content.contains("<apiVersion>8.0.3.0</apiVersion>"));

    assert_eq!(
        soap.fault("CreateContainerView", ("ViewManager", "ViewManager"), "")
            .await,
        "NotAuthenticated"
    );
    assert_eq!(
        soap.fault(
            "Login",
            ("SessionManager", "SessionManager"),
            "<userName>demo</userName><password>nope</password>",
        )
        .await,
        "InvalidLogin"
    );
    soap.login().await;
    let now = soap
        .ok("CurrentTime", ("ServiceInstance", "ServiceInstance"), "")
        .await;
    assert!(now.contains("xsi:type=\"xsd:dateTime\"") || now.contains("<returnval>"));
    let session = soap
        .ok(
            "Fetch",
            ("SessionManager", "SessionManager"),
            "<prop>currentSession</prop>",
        )
        .await;
    assert!(session.contains("xsi:type=\"UserSession\""), "{session}");

    // Idle past the timeout: the session is gone.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        soap.fault("CurrentTime", ("ServiceInstance", "ServiceInstance"), "")
            .await,
        "NotAuthenticated"
    );
    soap.login().await;
    soap.ok("Logout", ("SessionManager", "SessionManager"), "")
        .await;
    assert_eq!(
        soap.fault("Fetch", ("Folder", "group-d1"), "<prop>name</prop>")
            .await,
        "NotAuthenticated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_view_paging_and_a_tree_read() {
    let e = demo_estate(Duration::from_millis(200));
    let opts = VsphereSimOptions {
        max_page: 5,
        ..VsphereSimOptions::default()
    };
    let sim = serve(opts, e).await.expect("simulator");
    let mut soap = Soap::new(&sim);
    soap.login().await;
    let view = soap
        .ok(
            "CreateContainerView",
            ("ViewManager", "ViewManager"),
            "<container type=\"Folder\">group-d1</container><type>VirtualMachine</type>\
             <recursive>true</recursive>",
        )
        .await;
    let view_id = between(&view, "<returnval type=\"ContainerView\">", "<")
        .expect("view id")
        .to_string();
    let spec = |max: usize| {
        format!(
            "<specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet>\
             <pathSet>runtime.powerState</pathSet></propSet><objectSet>\
             <obj type=\"ContainerView\">{view_id}</obj><skip>true</skip>\
             <selectSet xsi:type=\"TraversalSpec\"><type>ContainerView</type><path>view</path>\
             <skip>false</skip></selectSet></objectSet></specSet>\
             <options><maxObjects>{max}</maxObjects></options>"
        )
    };
    // maxObjects 3: pages of 3, 3 and 2, then no token.
    let mut page = soap
        .ok(
            "RetrievePropertiesEx",
            ("PropertyCollector", "propertyCollector"),
            &spec(3),
        )
        .await;
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    loop {
        sizes.push(count(&page, "<objects>"));
        let mut rest = page.as_str();
        while let Some(n) = between(rest, "<name>name</name><val xsi:type=\"xsd:string\">", "<") {
            names.push(n.to_string());
            let i = rest.find(n).unwrap_or(0) + n.len();
            rest = &rest[i..];
        }
        let Some(token) = between(&page, "<token>", "</token>").map(String::from) else {
            break;
        };
        page = soap
            .ok(
                "ContinueRetrievePropertiesEx",
                ("PropertyCollector", "propertyCollector"),
                &format!("<token>{token}</token>"),
            )
            .await;
    }
    assert_eq!(sizes, [3, 3, 2]);
    assert_eq!(names.len(), 8);
    assert!(names.contains(&"web-01".to_string()) && names.contains(&"monitoring".to_string()));
    // maxObjects above the server's cap: the cap (5) wins.
    let page = soap
        .ok(
            "RetrievePropertiesEx",
            ("PropertyCollector", "propertyCollector"),
            &spec(100),
        )
        .await;
    assert_eq!(count(&page, "<objects>"), 5);
    assert!(page.contains("<token>"));
    assert_eq!(
        soap.fault(
            "ContinueRetrievePropertiesEx",
            ("PropertyCollector", "propertyCollector"),
            "<token>no-such-token</token>",
        )
        .await,
        "InvalidArgument"
    );

    // One VM's tree, with duplicate names, the current snapshot and sizes.
    let tree = soap
        .props(
            "VirtualMachine",
            "vm-101",
            &["snapshot", "layoutEx", "parent"],
        )
        .await;
    assert!(tree.contains(
        "<currentSnapshot type=\"VirtualMachineSnapshot\">snapshot-104</currentSnapshot>"
    ));
    assert_eq!(count(&tree, "<name>before-upgrade</name>"), 2, "{tree}");
    assert!(tree.contains(
        "<childSnapshotList><snapshot type=\"VirtualMachineSnapshot\">snapshot-102</snapshot>"
    ));
    assert!(tree.contains("<createTime>") && tree.contains("<quiesced>true</quiesced>"));
    assert!(tree.contains("xsi:type=\"VirtualMachineFileLayoutEx\""));
    assert!(tree.contains("<memoryKey>-1</memoryKey>"));
    assert!(!tree.contains("<size>0</size>"));
    assert!(tree.contains("<val xsi:type=\"ManagedObjectReference\" type=\"Folder\">"));
    // A VM without snapshots has no `snapshot` property at all.
    let none = soap
        .props("VirtualMachine", "vm-303", &["snapshot", "name"])
        .await;
    assert!(!none.contains("<name>snapshot</name>") && none.contains("jump-host"));
    // The folders above a VM, walked with traversal specs up to the datacenter.
    let up = soap
        .ok(
            "RetrieveProperties",
            ("PropertyCollector", "propertyCollector"),
            "<specSet><propSet><type>ManagedEntity</type><pathSet>name</pathSet></propSet>\
             <objectSet><obj type=\"VirtualMachine\">vm-101</obj><skip>true</skip>\
             <selectSet xsi:type=\"TraversalSpec\"><name>up</name><type>ManagedEntity</type>\
             <path>parent</path><skip>false</skip><selectSet><name>up</name></selectSet>\
             </selectSet></objectSet></specSet>",
        )
        .await;
    for name in ["web", "prod", "vm", "Paris-DC1", "Datacenters"] {
        assert!(
            up.contains(&format!(">{name}</val>")),
            "{name} missing: {up}"
        );
    }
    assert_eq!(
        soap.fault(
            "RetrievePropertiesEx",
            ("PropertyCollector", "propertyCollector"),
            "<specSet><propSet><type>VirtualMachine</type><pathSet>nonsense.path</pathSet>\
             </propSet><objectSet><obj type=\"VirtualMachine\">vm-101</obj></objectSet>\
             </specSet><options/>",
        )
        .await,
        "InvalidProperty"
    );
    assert_eq!(
        soap.fault("Fetch", ("VirtualMachine", "vm-999"), "<prop>name</prop>")
            .await,
        "ManagedObjectNotFound"
    );
    // A list of VMs, one of them unknown: a fault, unless missing objects are to be
    // reported in the results (then it is left out, as vcsim does).
    let listed = |report: &str| {
        format!(
            "<specSet><propSet><type>VirtualMachine</type><pathSet>capability.memorySnapshotsSupported</pathSet>\
             </propSet><objectSet><obj type=\"VirtualMachine\">vm-101</obj></objectSet>\
             <objectSet><obj type=\"VirtualMachine\">vm-999</obj></objectSet>{report}</specSet><options/>"
        )
    };
    let pc = ("PropertyCollector", "propertyCollector");
    assert_eq!(
        soap.fault("RetrievePropertiesEx", pc, &listed("")).await,
        "ManagedObjectNotFound"
    );
    let answer = soap
        .ok(
            "RetrievePropertiesEx",
            pc,
            &listed("<reportMissingObjectsInResults>true</reportMissingObjectsInResults>"),
        )
        .await;
    assert_eq!(count(&answer, "<objects>"), 1, "{answer}");
    assert!(answer.contains(">vm-101</obj>"), "{answer}");
    assert!(
        answer.contains("<name>capability.memorySnapshotsSupported</name>"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_changes_the_estate() {
    let e = demo_estate(Duration::from_millis(150));
    let sim = serve(VsphereSimOptions::default(), e.clone())
        .await
        .expect("simulator");
    let mut soap = Soap::new(&sim);
    soap.login().await;
    let vm = |id: &'static str| ("VirtualMachine", id);
    let snap = |id: &str| ("VirtualMachineSnapshot", id.to_string());

    // Take: a child of the current snapshot, becoming current; the task's result names it.
    let task = soap
        .ok(
            "CreateSnapshot_Task",
            vm("vm-101"),
            "<name>raw</name><description>over SOAP</description><memory>true</memory>\
             <quiesce>false</quiesce>",
        )
        .await;
    let info = soap.wait_task(&task).await;
    assert!(info.contains("<state>success</state>"), "{info}");
    assert!(info.contains("<entity type=\"VirtualMachine\">vm-101</entity>"));
    let new_id = between(
        &info,
        "<result xsi:type=\"ManagedObjectReference\" type=\"VirtualMachineSnapshot\">",
        "<",
    )
    .expect("task result")
    .to_string();
    let m = e.machine("pcc", "vm-101").unwrap();
    assert_eq!(m.current.as_deref(), Some(new_id.as_str()));
    assert_eq!(
        m.name_path(&new_id).unwrap(),
        "base/before-upgrade/after-patch/pre-release/raw"
    );
    let taken = m.find(&new_id).unwrap();
    assert!(taken.memory && taken.description == "over SOAP");

    // Revert to a snapshot without memory: current moves, the VM is left off.
    let (t, id) = snap("snapshot-102");
    let task = soap.ok("RevertToSnapshot_Task", (t, &id), "").await;
    soap.wait_task(&task).await;
    let m = e.machine("pcc", "vm-101").unwrap();
    assert_eq!(m.current.as_deref(), Some("snapshot-102"));
    assert_eq!(m.power_state, PowerState::PoweredOff);

    // Revert to current on a memory snapshot powers the VM on.
    let (t, id) = snap("snapshot-103");
    let task = soap
        .ok(
            "RevertToSnapshot_Task",
            (t, &id),
            "<suppressPowerOn>true</suppressPowerOn>",
        )
        .await;
    soap.wait_task(&task).await;
    assert_eq!(
        e.machine("pcc", "vm-101").unwrap().power_state,
        PowerState::Suspended
    );
    let task = soap
        .ok("RevertToCurrentSnapshot_Task", vm("vm-101"), "")
        .await;
    soap.wait_task(&task).await;
    let m = e.machine("pcc", "vm-101").unwrap();
    assert_eq!(m.current.as_deref(), Some("snapshot-103"));
    assert_eq!(m.power_state, PowerState::PoweredOn);

    // Rename is synchronous.
    let (t, id) = snap("snapshot-105");
    soap.ok(
        "RenameSnapshot",
        (t, &id),
        "<name>renamed</name><description>described</description>",
    )
    .await;
    let m = e.machine("pcc", "vm-101").unwrap();
    let s = m.find("snapshot-105").unwrap();
    assert_eq!(
        (s.name.as_str(), s.description.as_str()),
        ("renamed", "described")
    );

    // Remove one: its children move up.
    let (t, id) = snap("snapshot-105");
    let task = soap
        .ok(
            "RemoveSnapshot_Task",
            (t, &id),
            "<removeChildren>false</removeChildren><consolidate>true</consolidate>",
        )
        .await;
    soap.wait_task(&task).await;
    let m = e.machine("pcc", "vm-101").unwrap();
    assert!(m.find("snapshot-105").is_none());
    assert_eq!(m.name_path("snapshot-106").unwrap(), "base/hotfix-test");

    // Remove with children.
    let (t, id) = snap("snapshot-102");
    let task = soap
        .ok(
            "RemoveSnapshot_Task",
            (t, &id),
            "<removeChildren>true</removeChildren>",
        )
        .await;
    soap.wait_task(&task).await;
    let m = e.machine("pcc", "vm-101").unwrap();
    let ids: Vec<&str> = m.walk().iter().map(|(_, s)| s.id.as_str()).collect();
    assert_eq!(ids, ["snapshot-101", "snapshot-106"]);
    assert_eq!(m.current.as_deref(), Some("snapshot-101"));

    // Remove all, consolidate.
    let task = soap
        .ok(
            "RemoveAllSnapshots_Task",
            vm("vm-101"),
            "<consolidate>true</consolidate>",
        )
        .await;
    soap.wait_task(&task).await;
    assert_eq!(e.machine("pcc", "vm-101").unwrap().snapshot_count(), 0);
    let before = soap
        .props("VirtualMachine", "vm-201", &["runtime.consolidationNeeded"])
        .await;
    assert!(before.contains(">true</val>"), "{before}");
    // Followed on a dedicated collector, as the client library does: updates of task info.
    let task = soap.ok("ConsolidateVMDisks_Task", vm("vm-201"), "").await;
    let task_id = between(&task, "<returnval type=\"Task\">", "<")
        .expect("task")
        .to_string();
    let pc = soap
        .ok(
            "CreatePropertyCollector",
            ("PropertyCollector", "propertyCollector"),
            "",
        )
        .await;
    let pc_id = between(&pc, "<returnval type=\"PropertyCollector\">", "<")
        .expect("collector")
        .to_string();
    soap.ok(
        "CreateFilter",
        ("PropertyCollector", &pc_id),
        &format!(
            "<spec><propSet><type>Task</type><pathSet>info.state</pathSet>\
             <pathSet>info.progress</pathSet><pathSet>info.error</pathSet></propSet>\
             <objectSet><obj type=\"Task\">{task_id}</obj></objectSet></spec>\
             <partialUpdates>true</partialUpdates>"
        ),
    )
    .await;
    let mut version = String::new();
    let mut states = Vec::new();
    // Progress arrives in many small steps: follow until the end, bounded by time, not by a
    // count of updates.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let update = soap
            .ok(
                "WaitForUpdatesEx",
                ("PropertyCollector", &pc_id),
                &format!(
                    "<version>{version}</version><options><maxWaitSeconds>2</maxWaitSeconds></options>"
                ),
            )
            .await;
        let Some(v) = between(&update, "<version>", "</version>") else {
            continue;
        };
        version = v.to_string();
        if let Some(state) = between(
            &update,
            "<name>info.state</name><op>assign</op><val xsi:type=\"TaskInfoState\">",
            "<",
        ) {
            states.push(state.to_string());
            if state == "success" {
                break;
            }
        }
    }
    assert_eq!(states, ["running", "success"]);
    soap.ok(
        "DestroyPropertyCollector",
        ("PropertyCollector", &pc_id),
        "",
    )
    .await;
    assert_eq!(
        soap.fault(
            "WaitForUpdatesEx",
            ("PropertyCollector", &pc_id),
            "<version></version>"
        )
        .await,
        "ManagedObjectNotFound"
    );
    assert!(!e.machine("pcc", "vm-201").unwrap().consolidation_needed);
    let after = soap
        .props("VirtualMachine", "vm-201", &["runtime.consolidationNeeded"])
        .await;
    assert!(after.contains(">false</val>"), "{after}");

    // A failing task reports the fault and its message in info.error.
    e.inject(snaptree::sim::SimFault::FailNextTask(
        "NoDiskSpace: datastore1 is full".into(),
    ));
    let task = soap
        .ok(
            "CreateSnapshot_Task",
            vm("vm-303"),
            "<name>x</name><memory>false</memory><quiesce>false</quiesce>",
        )
        .await;
    let info = soap.wait_task(&task).await;
    assert!(info.contains("<state>error</state>"), "{info}");
    assert!(info.contains("<fault xsi:type=\"NoDiskSpace\">"), "{info}");
    assert!(
        info.contains("<localizedMessage>datastore1 is full</localizedMessage>"),
        "{info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_cancel_and_live_updates() {
    let e = demo_estate(Duration::from_secs(60));
    let sim = serve(VsphereSimOptions::default(), e.clone())
        .await
        .expect("simulator");
    let mut soap = Soap::new(&sim);
    soap.login().await;

    // Live updates on jump-host's snapshot and power state.
    let filter = soap
        .ok(
            "CreateFilter",
            ("PropertyCollector", "propertyCollector"),
            "<spec><propSet><type>VirtualMachine</type><pathSet>snapshot</pathSet>\
             <pathSet>runtime.powerState</pathSet></propSet>\
             <objectSet><obj type=\"VirtualMachine\">vm-303</obj></objectSet></spec>\
             <partialUpdates>false</partialUpdates>",
        )
        .await;
    let filter_id = between(&filter, "<returnval type=\"PropertyFilter\">", "<")
        .expect("filter id")
        .to_string();
    let first = soap
        .ok(
            "WaitForUpdatesEx",
            ("PropertyCollector", "propertyCollector"),
            "<version></version><options><maxWaitSeconds>5</maxWaitSeconds></options>",
        )
        .await;
    assert!(
        first.contains("<kind>enter</kind>") && first.contains(">poweredOn</val>"),
        "{first}"
    );
    let version = between(&first, "<version>", "</version>")
        .expect("version")
        .to_string();
    // Nothing changed: an empty answer when asked not to wait.
    let idle = soap
        .ok(
            "WaitForUpdatesEx",
            ("PropertyCollector", "propertyCollector"),
            &format!(
                "<version>{version}</version><options><maxWaitSeconds>0</maxWaitSeconds></options>"
            ),
        )
        .await;
    assert!(!idle.contains("<returnval>"), "{idle}");

    // A snapshot taken over SOAP: the task runs a minute, so it can be seen and cancelled.
    let take = "<name>long</name><memory>false</memory><quiesce>false</quiesce>";
    let task = soap
        .ok("CreateSnapshot_Task", ("VirtualMachine", "vm-303"), take)
        .await;
    let task_id = between(&task, "<returnval type=\"Task\">", "<")
        .expect("task")
        .to_string();
    let info = soap
        .props(
            "Task",
            &task_id,
            &["info.state", "info.cancelable", "info.progress"],
        )
        .await;
    assert!(
        info.contains(">running</val>")
            && info
                .contains("<name>info.cancelable</name><val xsi:type=\"xsd:boolean\">true</val>"),
        "{info}"
    );
    assert_eq!(
        soap.fault("CreateSnapshot_Task", ("VirtualMachine", "vm-303"), take)
            .await,
        "TaskInProgress"
    );
    // Task info reads the same twice but for progress (a changing field would wake watchers).
    let chain = |s: &str| between(s, "<eventChainId>", "<").map(String::from);
    let once = soap.props("Task", &task_id, &["info"]).await;
    let twice = soap.props("Task", &task_id, &["info"]).await;
    assert!(
        chain(&once).is_some() && chain(&once) == chain(&twice),
        "{once}"
    );
    soap.ok("CancelTask", ("Task", &task_id), "").await;
    let info = soap.props("Task", &task_id, &["info"]).await;
    assert!(
        info.contains("<cancelled>true</cancelled>")
            && info.contains("xsi:type=\"RequestCanceled\""),
        "{info}"
    );
    assert_eq!(
        soap.fault("CancelTask", ("Task", &task_id), "").await,
        "InvalidState"
    );
    assert_eq!(e.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
    // Reverts are not cancelable on this simulator, as in the estate.
    let revert = soap
        .ok(
            "RevertToSnapshot_Task",
            ("VirtualMachineSnapshot", "snapshot-141"),
            "",
        )
        .await;
    let revert_id = between(&revert, "<returnval type=\"Task\">", "<")
        .expect("task")
        .to_string();
    assert_eq!(
        soap.fault("CancelTask", ("Task", &revert_id), "").await,
        "NotSupported"
    );

    // A change made by another client wakes the waiting collector.
    let waiter = {
        let mut other = Soap {
            http: soap.http.clone(),
            url: soap.url.clone(),
            cookie: soap.cookie.clone(),
        };
        let version = version.clone();
        tokio::spawn(async move {
            other
                .ok(
                    "WaitForUpdatesEx",
                    ("PropertyCollector", "propertyCollector"),
                    &format!("<version>{version}</version><options><maxWaitSeconds>10</maxWaitSeconds></options>"),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    e.modify("pcc", "vm-303", |m| m.power_state = PowerState::PoweredOff)
        .unwrap();
    let update = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("an update in time")
        .expect("joined");
    assert!(
        update.contains("<kind>modify</kind>") && update.contains(">poweredOff</val>"),
        "{update}"
    );
    assert!(
        !update.contains("<name>snapshot</name>"),
        "only what changed: {update}"
    );
    // A wait superseded by a later one on the same collector is canceled.
    let superseded = {
        let mut other = Soap {
            http: soap.http.clone(),
            url: soap.url.clone(),
            cookie: soap.cookie.clone(),
        };
        let version = between(&update, "<version>", "</version>")
            .expect("version")
            .to_string();
        tokio::spawn(async move {
            other
                .fault(
                    "WaitForUpdatesEx",
                    ("PropertyCollector", "propertyCollector"),
                    &format!(
                        "<version>{version}</version><options><maxWaitSeconds>10</maxWaitSeconds></options>"
                    ),
                )
                .await
        })
    };
    // Cancel until the wait has seen it (it may not have begun yet on a busy machine).
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        soap.ok(
            "CancelWaitForUpdates",
            ("PropertyCollector", "propertyCollector"),
            "",
        )
        .await;
        if superseded.is_finished() {
            break;
        }
    }
    let fault = tokio::time::timeout(Duration::from_secs(5), superseded)
        .await
        .expect("the superseded wait ended")
        .expect("joined");
    assert_eq!(fault, "RequestCanceled");
    soap.ok("DestroyPropertyFilter", ("PropertyFilter", &filter_id), "")
        .await;
    assert_eq!(
        soap.fault("DestroyPropertyFilter", ("PropertyFilter", &filter_id), "")
            .await,
        "ManagedObjectNotFound"
    );

    // Faults raised before any task exists.
    let q = "<name>q</name><memory>false</memory><quiesce>true</quiesce>";
    assert_eq!(
        soap.fault("CreateSnapshot_Task", ("VirtualMachine", "vm-202"), q)
            .await,
        "InvalidPowerState"
    );
    assert_eq!(
        soap.fault("CreateSnapshot_Task", ("VirtualMachine", "vm-301"), q)
            .await,
        "ToolsUnavailable"
    );
    assert_eq!(
        soap.fault(
            "RevertToCurrentSnapshot_Task",
            ("VirtualMachine", "vm-202"),
            ""
        )
        .await,
        "NotFound"
    );
    assert_eq!(
        soap.fault(
            "RemoveSnapshot_Task",
            ("VirtualMachineSnapshot", "snapshot-999"),
            "<removeChildren>false</removeChildren>"
        )
        .await,
        "ManagedObjectNotFound"
    );
    assert_eq!(
        soap.fault("PowerOnVM_Task", ("VirtualMachine", "vm-101"), "")
            .await,
        "MethodNotFound"
    );
    // Nothing of this reached the estate.
    assert_eq!(e.machine("pcc", "vm-202").unwrap().snapshot_count(), 0);
}

/// `HasPrivilegeOnEntity` on the root folder: the booleans answered, in order.
async fn privileges(soap: &mut Soap, session: &str, privileges: &[&str]) -> Vec<bool> {
    let ids: String = privileges
        .iter()
        .map(|p| format!("<privId>{p}</privId>"))
        .collect();
    let body = soap
        .ok(
            "HasPrivilegeOnEntity",
            ("AuthorizationManager", "AuthorizationManager"),
            &format!(
                "<entity type=\"Folder\">group-d1</entity><sessionId>{session}</sessionId>{ids}"
            ),
        )
        .await;
    body.split("<returnval>")
        .skip(1)
        .map(|v| v.starts_with("true<"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_gets_no_permission_with_the_privilege() {
    let e = demo_estate(Duration::from_secs(60));
    let opts = VsphereSimOptions {
        viewer: Some(("reader".into(), "reader-pw".into())),
        ..VsphereSimOptions::default()
    };
    let sim = serve(opts, e.clone()).await.expect("simulator");
    assert!(sim.describe().contains("read-only user: reader"));
    let mut admin = Soap::new(&sim);
    let content = admin
        .ok(
            "RetrieveServiceContent",
            ("ServiceInstance", "ServiceInstance"),
            "",
        )
        .await;
    assert!(
        content.contains(
            "<authorizationManager type=\"AuthorizationManager\">AuthorizationManager</authorizationManager>"
        ),
        "{content}"
    );
    let admin_key = admin.login_as("demo", "demo").await;

    let mut viewer = Soap::new(&sim);
    assert_eq!(
        viewer
            .fault(
                "Login",
                ("SessionManager", "SessionManager"),
                "<userName>reader</userName><password>demo</password>",
            )
            .await,
        "InvalidLogin"
    );
    let viewer_key = viewer.login_as("reader", "reader-pw").await;
    // Reads work.
    let name = viewer.props("VirtualMachine", "vm-303", &["name"]).await;
    assert!(name.contains("jump-host"), "{name}");
    let version = e.version();

    let (status, body) = viewer
        .call(
            "CreateSnapshot_Task",
            ("VirtualMachine", "vm-303"),
            "<name>t</name><memory>false</memory><quiesce>false</quiesce>",
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(fault_type(&body).as_deref(), Some("NoPermission"), "{body}");
    assert!(
        body.contains(
            "<faultstring>Permission to perform this operation was denied.</faultstring>"
        ),
        "{body}"
    );
    assert!(
        body.contains("<object type=\"VirtualMachine\">vm-303</object>"),
        "{body}"
    );
    assert!(
        body.contains("<privilegeId>VirtualMachine.State.CreateSnapshot</privilegeId>"),
        "{body}"
    );
    assert!(
        body.contains(
            "<missingPrivileges><entity type=\"VirtualMachine\">vm-303</entity>\
             <privilegeIds>VirtualMachine.State.CreateSnapshot</privilegeIds></missingPrivileges>"
        ),
        "{body}"
    );
    let (_, body) = viewer
        .call(
            "RemoveSnapshot_Task",
            ("VirtualMachineSnapshot", "snapshot-106"),
            "<removeChildren>false</removeChildren>",
        )
        .await;
    assert_eq!(fault_type(&body).as_deref(), Some("NoPermission"), "{body}");
    assert!(
        body.contains("<object type=\"VirtualMachineSnapshot\">snapshot-106</object>")
            && body.contains("<privilegeId>VirtualMachine.State.RemoveSnapshot</privilegeId>"),
        "{body}"
    );
    // A snapshot that does not exist is still ManagedObjectNotFound, not NoPermission.
    assert_eq!(
        viewer
            .fault(
                "RemoveSnapshot_Task",
                ("VirtualMachineSnapshot", "snapshot-999"),
                "<removeChildren>false</removeChildren>",
            )
            .await,
        "ManagedObjectNotFound"
    );
    assert_eq!(e.version(), version, "nothing reached the estate");
    assert_eq!(e.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
    assert!(
        e.machine("pcc", "vm-101")
            .unwrap()
            .find("snapshot-106")
            .is_some()
    );

    // Privileges per session: the viewer holds the read ones only; the user all; an
    // unknown session none.
    let asked = ["System.Read", "VirtualMachine.State.CreateSnapshot"];
    assert_eq!(
        privileges(&mut viewer, &viewer_key, &asked).await,
        [true, false]
    );
    assert_eq!(
        privileges(&mut viewer, &admin_key, &asked).await,
        [true, true]
    );
    assert_eq!(
        privileges(&mut admin, &admin_key, &asked).await,
        [true, true]
    );
    assert_eq!(privileges(&mut admin, "nope", &asked).await, [false, false]);
    assert_eq!(
        admin
            .fault(
                "HasPrivilegeOnEntity",
                ("AuthorizationManager", "AuthorizationManager"),
                &format!(
                    "<entity type=\"Folder\">group-404</entity><sessionId>{admin_key}</sessionId>\
                     <privId>System.Read</privId>"
                ),
            )
            .await,
        "ManagedObjectNotFound"
    );
}
