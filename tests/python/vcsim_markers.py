"""pyVmomi, as another tool an operator runs, writing and reading snapshot markers on a
vcsim VM: snaptree must honour a `[keep]` written here, and what snaptree writes
(`[expires …]`, `[keep]`) must be what pyVmomi reads.

Usage:
  vcsim_markers.py HOST PORT VM_MOREF take NAME DESCRIPTION   take a snapshot (no memory)
  vcsim_markers.py HOST PORT VM_MOREF descriptions             print "name<TAB>description" lines
"""

import sys

from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

host, port, moref, command = sys.argv[1:5]
si = SmartConnect(host=host, port=int(port), user="user", pwd="pass",
                  disableSslCertValidation=True)
try:
    vm = vim.VirtualMachine(moref, si._stub)
    if command == "take":
        name, description = sys.argv[5:7]
        WaitForTask(vm.CreateSnapshot_Task(name=name, description=description,
                                           memory=False, quiesce=False))
    elif command == "descriptions":
        def walk(trees):
            for t in trees or []:
                print(f"{t.name}\t{t.description}")
                walk(t.childSnapshotList)
        walk(vm.snapshot.rootSnapshotList if vm.snapshot else [])
    else:
        sys.exit(f"unknown command {command}")
finally:
    Disconnect(si)
