"""pyVmomi doing what snaptree's inventory read does, for comparison: one ContainerView of
VirtualMachine plus folders and datacenters, RetrievePropertiesEx with the same property
paths, paged with ContinueRetrievePropertiesEx; then `layoutEx` of the VMs that have
snapshots, 500 VMs per call. Prints the median of RUNS loads (login not included).

    python3 benches/vsphere_inventory.py https://user:pass@127.0.0.1:PORT/sdk [RUNS]
"""
import ssl
import statistics
import sys
import time
from urllib.parse import urlparse

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

VM_PATHS = ["name", "parent", "runtime.powerState", "runtime.consolidationNeeded",
            "guest.toolsRunningStatus", "config.hardware.memoryMB",
            "capability.snapshotOperationsSupported",
            "capability.multipleSnapshotsSupported", "capability.memorySnapshotsSupported",
            "capability.quiescedSnapshotsSupported", "snapshot", "layoutEx.disk"]
PAGE = 500


def retrieve(pc, spec):
    """Every object of one filter spec, following continuation tokens."""
    options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=PAGE)
    result = pc.RetrievePropertiesEx([spec], options)
    while result:
        yield from result.objects
        if not result.token:
            break
        result = pc.ContinueRetrievePropertiesEx(result.token)


def load(si):
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(
        content.rootFolder, [vim.VirtualMachine, vim.Folder, vim.Datacenter], True)
    try:
        traverse = vmodl.query.PropertyCollector.TraversalSpec(
            type=vim.view.ContainerView, path="view", skip=False)
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
                obj=view, skip=True, selectSet=[traverse])],
            propSet=[
                vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine, pathSet=VM_PATHS),
                vmodl.query.PropertyCollector.PropertySpec(type=vim.Folder, pathSet=["name", "parent"]),
                vmodl.query.PropertyCollector.PropertySpec(type=vim.Datacenter, pathSet=["name", "parent"]),
            ])
        pc = content.propertyCollector
        vms = 0
        snapshots = 0
        with_snapshots = []
        for obj in retrieve(pc, spec):
            if isinstance(obj.obj, vim.VirtualMachine):
                vms += 1
                for prop in obj.propSet:
                    if prop.name == "snapshot" and prop.val.rootSnapshotList:
                        with_snapshots.append(obj.obj)
                        stack = list(prop.val.rootSnapshotList)
                        while stack:
                            node = stack.pop()
                            snapshots += 1
                            stack.extend(node.childSnapshotList or [])
        layouts = 0
        for i in range(0, len(with_snapshots), PAGE):
            layout_spec = vmodl.query.PropertyCollector.FilterSpec(
                objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=vm, skip=False)
                           for vm in with_snapshots[i:i + PAGE]],
                propSet=[vmodl.query.PropertyCollector.PropertySpec(
                    type=vim.VirtualMachine, pathSet=["layoutEx"])],
                reportMissingObjectsInResults=True)
            layouts += sum(1 for _ in retrieve(pc, layout_spec))
        assert layouts == len(with_snapshots), (layouts, len(with_snapshots))
        return vms, snapshots
    finally:
        view.Destroy()


def main():
    url = urlparse(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ctx = ssl._create_unverified_context()
    si = SmartConnect(host=url.hostname, port=url.port or 443, user=url.username,
                      pwd=url.password, sslContext=ctx)
    try:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            vms, snapshots = load(si)
            times.append(time.perf_counter() - start)
        print(f"pyvmomi: {vms} VMs, {snapshots} snapshots; median load "
              f"{statistics.median(times) * 1000:.0f} ms over {runs} runs "
              f"(min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms)")
    finally:
        Disconnect(si)


if __name__ == "__main__":
    main()
