"""pyVmomi against snaptree's vSphere simulator: log in, list VMs through a container view,
read snapshot trees, and run every snapshot operation (take, revert, revert to current,
remove one, remove with children, remove all, consolidate, rename, cancel).

Usage: vsim_pyvmomi.py HOST FAST_PORT SLOW_PORT USER PASSWORD CERT_PEM
FAST_PORT serves an estate whose tasks take a fraction of a second, SLOW_PORT one whose
tasks take a minute (for cancelling a running task); CERT_PEM is the fast simulator's
certificate, trusted as the only authority for one more connection. The Rust test that runs this script
checks the estate afterwards; this script checks what pyVmomi reads back.
"""

import ssl
import sys
import time

from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

host, fast_port, slow_port, user, pwd, cert_pem = sys.argv[1:7]


def connect(port):
    return SmartConnect(host=host, port=int(port), user=user, pwd=pwd,
                        disableSslCertValidation=True)


def vms_by_name(si):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder,
                                                   [vim.VirtualMachine], True)
    try:
        return {vm.name: vm for vm in view.view}
    finally:
        view.DestroyView()


def paths(vm):
    """Every snapshot as (moref id, name path), depth first."""
    out = []

    def walk(nodes, prefix):
        for n in nodes:
            path = prefix + [n.name]
            out.append((n.snapshot._moId, "/".join(path)))
            walk(n.childSnapshotList, path)

    if vm.snapshot is not None:
        walk(vm.snapshot.rootSnapshotList, [])
    return out


def current(vm):
    info = vm.snapshot
    if info is None or info.currentSnapshot is None:
        return None
    return info.currentSnapshot._moId


def check(cond, what):
    if not cond:
        sys.exit("FAILED: " + what)


# --- login and listing -------------------------------------------------------------------
si = connect(fast_port)
content = si.RetrieveContent()
check(content.about.apiType == "VirtualCenter", "about.apiType")
check(content.sessionManager.currentSession.userName == user, "currentSession")
vms = vms_by_name(si)
check(len(vms) == 8, "8 VMs listed, got %d" % len(vms))
web = vms["web-01"]
check(web._moId == "vm-101", "moref of web-01")
check(web.runtime.powerState == "poweredOn", "power state")
check(web.guest.toolsRunningStatus == "guestToolsRunning", "tools")
check(web.capability.multipleSnapshotsSupported, "capability")

# Folders up to the datacenter and the root folder.
names, entity = [], web.parent
while entity is not None:
    names.append(entity.name)
    entity = entity.parent
check(names == ["web", "prod", "vm", "Paris-DC1", "Datacenters"], "parents: %s" % names)

# The tree, with duplicate names and the current snapshot.
tree = paths(web)
check(("snapshot-104", "base/before-upgrade/after-patch/pre-release") in tree, "tree %s" % tree)
check(("snapshot-105", "base/before-upgrade") in tree, "duplicate name kept apart")
check(current(web) == "snapshot-104", "current snapshot")
node = web.snapshot.rootSnapshotList[0]
check(node.id == 101 and node.vm._moId == "vm-101" and node.createTime.year > 2000, "tree node")
layout = web.layoutEx
check(all(f.size > 0 for f in layout.file), "layoutEx file sizes")
check(len(layout.snapshot) == 6, "layoutEx snapshots")
check(vms["jump-host"].snapshot is None, "no snapshot property on a VM without snapshots")
check(vms["db-01"].runtime.consolidationNeeded, "consolidation needed on db-01")

# Disk chains and datastores as vCenter serves them: jump-host runs on a delta disk that no
# snapshot owns; monitoring's files are on a nearly full datastore.
jlayout = vms["jump-host"].layoutEx
file_names = {f.key: f.name for f in jlayout.file}
chain = jlayout.disk[0].chain
check(len(chain) == 2 and jlayout.disk[0].key == 2000, "jump-host's chain: %s" % chain)
check(file_names[chain[1].fileKey[0]] == "[datastore1] jump-host/jump-host-000001.vmdk",
      "jump-host's phantom delta: %s" % file_names)
mon = vms["monitoring"]
check([d.name for d in mon.datastore] == ["rbx-ssd-02"], "monitoring's datastore")
summary = mon.datastore[0].summary
check(summary.freeSpace == 2 << 30 and summary.capacity == 2048 << 30 and summary.accessible,
      "datastore summary: %s" % summary)
check(all(f.name.startswith("[rbx-ssd-02] monitoring/") for f in mon.layoutEx.file),
      "monitoring's files on its datastore")
dc = content.rootFolder.childEntity[0]
check(sorted(d.name for d in dc.datastore) == ["datastore1", "rbx-ssd-02"], "datacenter datastores")

# --- take, revert, revert to current, rename, remove ---------------------------------------
jump = vms["jump-host"]
task = jump.CreateSnapshot_Task(name="from-pyvmomi", description="first", memory=False,
                                quiesce=False)
check(WaitForTask(task) == "success", "take")
first = task.info.result
check(isinstance(first, vim.vm.Snapshot), "take result is a snapshot")
check(task.info.entity._moId == jump._moId, "task entity is the VM")
check(current(jump) == first._moId, "new snapshot is current")

task = jump.CreateSnapshot_Task(name="second", description="", memory=True, quiesce=True)
WaitForTask(task)
second = task.info.result
tree = dict(paths(jump))
check(tree[second._moId] == "from-pyvmomi/second", "second is a child: %s" % tree)
node = jump.snapshot.rootSnapshotList[0].childSnapshotList[0]
check(node.state == "poweredOn" and node.quiesced, "memory and quiesce recorded")

WaitForTask(first.RevertToSnapshot_Task())
check(current(jump) == first._moId, "revert moved current")
check(jump.runtime.powerState == "poweredOff", "a snapshot without memory leaves the VM off")
WaitForTask(jump.RevertToCurrentSnapshot_Task())
check(current(jump) == first._moId, "revert to current keeps current")

first.RenameSnapshot(name="renamed", description="new description")
node = jump.snapshot.rootSnapshotList[0]
check(node.name == "renamed" and node.description == "new description", "rename")

WaitForTask(second.RemoveSnapshot_Task(removeChildren=False))
check([p for _, p in paths(jump)] == ["renamed"], "remove one")

# Remove with children on web-01: before-upgrade (102) and everything under it.
snap102 = vim.vm.Snapshot("snapshot-102", si._stub)
WaitForTask(snap102.RemoveSnapshot_Task(removeChildren=True))
left = [i for i, _ in paths(web)]
check(left == ["snapshot-101", "snapshot-105", "snapshot-106"], "remove with children: %s" % left)
check(current(web) == "snapshot-101", "current moved up to the parent")

# Remove all on web-02, consolidate db-01.
web2 = vms["web-02"]
WaitForTask(web2.RemoveAllSnapshots_Task(consolidate=True))
check(web2.snapshot is None, "remove all")
db = vms["db-01"]
WaitForTask(db.ConsolidateVMDisks_Task())
check(not db.runtime.consolidationNeeded, "consolidate")

# --- the simulator's own certificate, verified by OpenSSL --------------------------------
trusted = SmartConnect(host=host, port=int(fast_port), user=user, pwd=pwd,
                       sslContext=ssl.create_default_context(cafile=cert_pem))
check(trusted.CurrentTime().year > 2000, "CurrentTime over a verified connection")
Disconnect(trusted)

# --- faults ---------------------------------------------------------------------------------
try:
    snap102.RenameSnapshot(name="gone")
    check(False, "a removed snapshot was renamed")
except vmodl.fault.ManagedObjectNotFound:
    pass
try:
    jump.CreateSnapshot_Task(name="q", memory=False, quiesce=True)  # jump-host is off now
    check(False, "quiesce on a powered-off VM was accepted")
except vim.fault.InvalidPowerState:
    pass
# --- CreateSnapshotEx_Task: a quiesce time limit (vSphere 6.5 and later) -------------------
web2 = vms["web-02"]
task = web2.CreateSnapshotEx_Task(name="ex", description="", memory=False,
                                  quiesceSpec=vim.vm.GuestQuiesceSpec(timeout=10))
check(WaitForTask(task) == "success", "take with a quiesce spec")
check(task.info.descriptionId == "VirtualMachine.createSnapshotEx",
      "the task is CreateSnapshotEx's: %s" % task.info.descriptionId)
check(current(web2) == task.info.result._moId, "the Ex take is current")
check(any(p.endswith("ex") for _, p in paths(web2)), "the Ex take is in the tree")
try:
    web2.CreateSnapshotEx_Task(name="bad", memory=False,
                               quiesceSpec=vim.vm.GuestQuiesceSpec(timeout=3))
    check(False, "a quiesce time limit of 3 minutes was accepted")
except vmodl.fault.InvalidArgument:
    pass
try:
    connect_bad = SmartConnect(host=host, port=int(fast_port), user=user, pwd="wrong",
                               disableSslCertValidation=True)
    check(False, "a wrong password was accepted")
except vim.fault.InvalidLogin:
    pass
Disconnect(si)

# --- cancel a running task, and one task at a time ----------------------------------------
slow = connect(slow_port)
infra = vms_by_name(slow)["monitoring"]
task = infra.CreateSnapshot_Task(name="long", description="", memory=False, quiesce=False)
time.sleep(0.3)
check(task.info.state == "running" and task.info.cancelable, "long task running, cancelable")
try:
    infra.CreateSnapshot_Task(name="again", memory=False, quiesce=False)
    check(False, "a second task was accepted while one runs")
except vim.fault.TaskInProgress:
    pass
task.CancelTask()
try:
    WaitForTask(task)
    check(False, "a cancelled task succeeded")
except vmodl.fault.RequestCanceled:
    pass
check(task.info.state == "error" and task.info.cancelled, "cancelled task state")
check([p for _, p in paths(infra)] == ["before-grafana-11"], "cancel left the tree alone")
Disconnect(slow)
print("pyvmomi ok: %d VMs, every operation checked" % len(vms))
