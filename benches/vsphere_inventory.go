// govmomi doing what snaptree's inventory read does, for comparison (a compiled client, as
// govc reads): one ContainerView of VirtualMachine plus folders and datacenters,
// RetrievePropertiesEx with the same property paths, paged with
// ContinueRetrievePropertiesEx; then `layoutEx` of the VMs that have snapshots, 500 VMs per
// call; then the view destroyed and the session logged out. Prints the median of RUNS loads
// (login not included); with RUNS 1 it is the whole process benchmarks time.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o vsphere_inventory benches/vsphere_inventory.go
//	./vsphere_inventory https://user:pass@127.0.0.1:PORT/sdk [RUNS]
package main

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

var vmPaths = []string{"name", "parent", "runtime.powerState", "runtime.consolidationNeeded",
	"guest.toolsRunningStatus", "config.hardware.memoryMB", "capability.snapshotOperationsSupported",
	"capability.multipleSnapshotsSupported", "capability.memorySnapshotsSupported",
	"capability.quiescedSnapshotsSupported", "snapshot", "layoutEx.disk"}

const page = 500

// retrieve every object of one filter spec, following continuation tokens.
func retrieve(ctx context.Context, c *vim25.Client, spec types.PropertyFilterSpec) ([]types.ObjectContent, error) {
	pc := c.ServiceContent.PropertyCollector
	res, err := methods.RetrievePropertiesEx(ctx, c, &types.RetrievePropertiesEx{
		This: pc, SpecSet: []types.PropertyFilterSpec{spec},
		Options: types.RetrieveOptions{MaxObjects: page},
	})
	if err != nil {
		return nil, err
	}
	var out []types.ObjectContent
	result := res.Returnval
	for result != nil {
		out = append(out, result.Objects...)
		if result.Token == "" {
			break
		}
		next, err := methods.ContinueRetrievePropertiesEx(ctx, c, &types.ContinueRetrievePropertiesEx{This: pc, Token: result.Token})
		if err != nil {
			return nil, err
		}
		result = &next.Returnval
	}
	return out, nil
}

func load(ctx context.Context, c *vim25.Client) (int, int, error) {
	v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder,
		[]string{"VirtualMachine", "Folder", "Datacenter"}, true)
	if err != nil {
		return 0, 0, err
	}
	defer v.Destroy(ctx)
	spec := types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: v.Reference(), Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}}}},
		PropSet: []types.PropertySpec{
			{Type: "VirtualMachine", PathSet: vmPaths},
			{Type: "Folder", PathSet: []string{"name", "parent"}},
			{Type: "Datacenter", PathSet: []string{"name", "parent"}},
		},
	}
	objs, err := retrieve(ctx, c, spec)
	if err != nil {
		return 0, 0, err
	}
	vms, snapshots := 0, 0
	var withSnapshots []types.ManagedObjectReference
	for _, o := range objs {
		if o.Obj.Type != "VirtualMachine" {
			continue
		}
		vms++
		for _, p := range o.PropSet {
			info, ok := p.Val.(types.VirtualMachineSnapshotInfo)
			if p.Name != "snapshot" || !ok || len(info.RootSnapshotList) == 0 {
				continue
			}
			withSnapshots = append(withSnapshots, o.Obj)
			stack := append([]types.VirtualMachineSnapshotTree{}, info.RootSnapshotList...)
			for len(stack) > 0 {
				n := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				snapshots++
				stack = append(stack, n.ChildSnapshotList...)
			}
		}
	}
	layouts := 0
	for i := 0; i < len(withSnapshots); i += page {
		end := i + page
		if end > len(withSnapshots) {
			end = len(withSnapshots)
		}
		var set []types.ObjectSpec
		for _, vm := range withSnapshots[i:end] {
			set = append(set, types.ObjectSpec{Obj: vm, Skip: types.NewBool(false)})
		}
		got, err := retrieve(ctx, c, types.PropertyFilterSpec{ObjectSet: set,
			PropSet:                       []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"layoutEx"}}},
			ReportMissingObjectsInResults: types.NewBool(true)})
		if err != nil {
			return 0, 0, err
		}
		layouts += len(got)
	}
	if layouts != len(withSnapshots) {
		return 0, 0, fmt.Errorf("%d layouts for %d VMs with snapshots", layouts, len(withSnapshots))
	}
	return vms, snapshots, nil
}

func main() {
	u, err := url.Parse(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	runs := 5
	if len(os.Args) > 2 {
		runs, _ = strconv.Atoi(os.Args[2])
	}
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Logout(ctx)
	var times []time.Duration
	vms, snapshots := 0, 0
	for i := 0; i < runs; i++ {
		start := time.Now()
		vms, snapshots, err = load(ctx, c.Client)
		if err != nil {
			log.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("govmomi: %d VMs, %d snapshots; median load %d ms over %d runs (min %d ms, max %d ms)\n",
		vms, snapshots, times[len(times)/2].Milliseconds(), runs, times[0].Milliseconds(), times[len(times)-1].Milliseconds())
}
