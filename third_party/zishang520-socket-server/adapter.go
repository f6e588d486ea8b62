package socket

import (
	"fmt"
	"sync"
	"sync/atomic"

	enginepacket "github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// AdapterBuilder is a builder for creating Adapter instances.
type AdapterBuilder struct {
}

// adapter is the default implementation of the Adapter interface.
type adapter struct {
	types.EventEmitter

	// Prototype interface, used to implement interface method rewriting
	_proto_ Adapter

	nsp     Namespace
	rooms   *types.Map[Room, *types.Set[SocketId]]
	sids    *types.Map[SocketId, *types.Set[Room]]
	encoder parser.Encoder

	// Switchboard patch: the recipients of a broadcast to one room, or to every socket, kept
	// as a slice between membership changes (see recipients). Walking the two concurrent
	// maps per recipient cost a sixth of a broadcast's CPU.
	gen      atomic.Uint64 // bumped by every membership change
	snapMu   sync.RWMutex  // read by every broadcast, written at membership changes
	allSnap  *recipientSnapshot
	roomSnap map[Room]*recipientSnapshot
}

// recipientSnapshot is the sockets of a room, or of the namespace.
type recipientSnapshot struct {
	sockets []*Socket
}

// recipientsBuilt, when set (by tests), runs between a snapshot's build and its store.
var recipientsBuilt func()

// New creates a new Adapter for the given Namespace.
func (*AdapterBuilder) New(nsp Namespace) Adapter {
	return NewAdapter(nsp)
}

// MakeAdapter returns a new default Adapter instance.
func MakeAdapter() Adapter {
	a := &adapter{
		EventEmitter: types.NewEventEmitter(),

		rooms: &types.Map[Room, *types.Set[SocketId]]{},
		sids:  &types.Map[SocketId, *types.Set[Room]]{},

		roomSnap: map[Room]*recipientSnapshot{},
	}

	a.Prototype(a)

	return a
}

// NewAdapter creates a new Adapter for the given Namespace.
func NewAdapter(nsp Namespace) Adapter {
	n := MakeAdapter()

	n.Construct(nsp)

	return n
}

// Prototype sets the prototype for the adapter.
func (a *adapter) Prototype(_a Adapter) {
	a._proto_ = _a
}

// Proto returns the prototype of the adapter.
func (a *adapter) Proto() Adapter {
	return a._proto_
}

// Rooms returns the map of rooms and their associated socket IDs.
func (a *adapter) Rooms() *types.Map[Room, *types.Set[SocketId]] {
	return a.rooms
}

// Sids returns the map of socket IDs and their associated rooms.
func (a *adapter) Sids() *types.Map[SocketId, *types.Set[Room]] {
	return a.sids
}

// Nsp returns the namespace associated with the adapter.
func (a *adapter) Nsp() Namespace {
	return a.nsp
}

// Construct initializes the adapter with the given namespace.
func (a *adapter) Construct(nsp Namespace) {
	a.nsp = nsp
	a.encoder = nsp.Server().Encoder()
}

// Init initializes the adapter. To be overridden by custom implementations.
func (a *adapter) Init() {
}

// Close closes the adapter. To be overridden by custom implementations.
func (a *adapter) Close() {
}

// ServerCount returns the number of Socket.IO servers in the cluster.
func (a *adapter) ServerCount() int64 {
	return 1
}

// AddAll adds a socket to a list of rooms.
func (a *adapter) AddAll(id SocketId, rooms *types.Set[Room]) {
	_rooms, _ := a.sids.LoadOrStore(id, types.NewSet[Room]())
	for _, room := range rooms.Keys() {
		_rooms.Add(room)
		ids, ok := a.rooms.LoadOrStore(room, types.NewSet[SocketId]())
		if !ok {
			a.Emit("create-room", room)
		}
		if !ids.Has(id) {
			ids.Add(id)
			a.changed(room) // before the event: its listeners may broadcast to the room
			a.Emit("join-room", room, id)
		}
	}
	a.changed() // the namespace's snapshot, even when no room was joined
}

// changed drops the snapshots of rooms, and of the whole namespace, after a change to their
// members. It bumps the generation first, so a snapshot built concurrently, perhaps from
// the members before the change, is not stored after this drop (see recipients).
func (a *adapter) changed(rooms ...Room) {
	a.gen.Add(1)
	a.snapMu.Lock()
	a.allSnap = nil
	for _, room := range rooms {
		delete(a.roomSnap, room)
	}
	a.snapMu.Unlock()
}

// recipients returns the sockets in room, or in the namespace if all, from a snapshot
// rebuilt only after a membership change. The slice is never modified: callbacks may join
// and leave rooms while a broadcast walks it.
func (a *adapter) recipients(room Room, all bool) []*Socket {
	gen := a.gen.Load()
	a.snapMu.RLock()
	snap := a.allSnap
	if !all {
		snap = a.roomSnap[room]
	}
	a.snapMu.RUnlock()
	if snap != nil {
		return snap.sockets
	}
	var sockets []*Socket
	complete := true
	add := func(id SocketId) {
		if socket, ok := a.nsp.Sockets().Load(id); ok {
			sockets = append(sockets, socket)
		} else {
			complete = false // registered with the namespace later: not to be cached
		}
	}
	if all {
		a.sids.Range(func(id SocketId, _ *types.Set[Room]) bool {
			add(id)
			return true
		})
	} else if ids, ok := a.rooms.Load(room); ok {
		for _, id := range ids.Keys() {
			add(id)
		}
	} else {
		return nil
	}
	if recipientsBuilt != nil {
		recipientsBuilt()
	}
	if complete {
		snap = &recipientSnapshot{sockets: sockets}
		a.snapMu.Lock()
		// Stored only if no change began since gen was read: a change that bumped the
		// generation after this check drops the snapshot when it takes the lock.
		if a.gen.Load() == gen {
			if all {
				a.allSnap = snap
			} else {
				a.roomSnap[room] = snap
			}
		}
		a.snapMu.Unlock()
	}
	return sockets
}

// Del removes a socket from a room.
func (a *adapter) Del(id SocketId, room Room) {
	if rooms, ok := a.sids.Load(id); ok {
		rooms.Delete(room)
	}
	a._del(room, id)
}

func (a *adapter) _del(room Room, id SocketId) {
	if ids, ok := a.rooms.Load(room); ok {
		if ids.Delete(id) {
			a.changed(room) // before the event: its listeners may broadcast to the room
			a.Emit("leave-room", room, id)
		}
		if ids.Len() == 0 {
			if _, ok := a.rooms.LoadAndDelete(room); ok {
				a.Emit("delete-room", room)
			}
		}
	}
}

// DelAll removes a socket from all rooms it's joined.
func (a *adapter) DelAll(id SocketId) {
	if rooms, ok := a.sids.Load(id); ok {
		for _, room := range rooms.Keys() {
			a._del(room, id)
		}
		a.sids.Delete(id)
		a.changed() // the namespace's snapshot: the socket is out of sids only now
	}
}

// Broadcast sends a packet to all matching sockets.
func (a *adapter) Broadcast(packet *parser.Packet, opts *BroadcastOptions) {
	flags := &BroadcastFlags{}
	if opts != nil && opts.Flags != nil {
		flags = opts.Flags
	}

	packetOpts := &WriteOptions{}
	packetOpts.PreEncoded = true
	packetOpts.Volatile = flags.Volatile
	packetOpts.Compress = flags.Compress

	packet.Nsp = a.nsp.Name()
	encodedPackets := a._encode(packet, packetOpts)
	a.apply(opts, func(socket *Socket) {
		if notifyOutgoingListeners := socket.NotifyOutgoingListeners(); notifyOutgoingListeners != nil {
			notifyOutgoingListeners(packet)
		}
		socket.Client().WriteToEngine(encodedPackets, packetOpts)
	})
}

// BroadcastWithAck sends a packet and expects multiple acknowledgements.
func (a *adapter) BroadcastWithAck(packet *parser.Packet, opts *BroadcastOptions, clientCountCallback func(uint64), ack Ack) {
	flags := &BroadcastFlags{}
	if opts != nil && opts.Flags != nil {
		flags = opts.Flags
	}

	packetOpts := &WriteOptions{}
	packetOpts.PreEncoded = true
	packetOpts.Volatile = flags.Volatile
	packetOpts.Compress = flags.Compress

	packet.Nsp = a.nsp.Name()
	// we can use the same id for each packet, since the _ids counter is common (no duplicate)
	packet.Id = new(a.nsp.Ids())
	encodedPackets := a._encode(packet, packetOpts)
	var clientCount atomic.Uint64
	a.apply(opts, func(socket *Socket) {
		// track the total number of acknowledgements that are expected
		clientCount.Add(1)
		// call the ack callback for each client response
		socket.Acks().Store(*packet.Id, ack)
		if notifyOutgoingListeners := socket.NotifyOutgoingListeners(); notifyOutgoingListeners != nil {
			notifyOutgoingListeners(packet)
		}
		socket.Client().WriteToEngine(encodedPackets, packetOpts)
	})
	clientCountCallback(clientCount.Load())
}

func (a *adapter) _encode(packet *parser.Packet, packetOpts *WriteOptions) []types.BufferInterface {
	encodedPackets := a.encoder.Encode(packet)

	if len(encodedPackets) == 1 {
		if p, ok := encodedPackets[0].(*types.StringBuffer); ok {
			// "4" being the "message" packet type in the Engine.IO protocol
			data := types.NewStringBufferString("4")
			_, _ = data.Write(p.Bytes())
			// see https://github.com/websockets/ws/issues/617#issuecomment-283002469
			packetOpts.WsPreEncodedFrame = data
			// Switchboard patch: the recipients share what they derive from the frame.
			packetOpts.Shared = &enginepacket.Shared{}
		}
	}

	return encodedPackets
}

// Sockets returns a set of socket IDs matching the given rooms.
func (a *adapter) Sockets(rooms *types.Set[Room]) *types.Set[SocketId] {
	sids := types.NewSet[SocketId]()
	a.apply(&BroadcastOptions{Rooms: rooms}, func(socket *Socket) {
		sids.Add(socket.Id())
	})
	return sids
}

// SocketRooms returns the list of rooms a given socket has joined.
func (a *adapter) SocketRooms(id SocketId) *types.Set[Room] {
	if rooms, ok := a.sids.Load(id); ok {
		return rooms
	}
	return nil
}

// FetchSockets returns a function to fetch matching socket instances.
func (a *adapter) FetchSockets(opts *BroadcastOptions) func(func([]SocketDetails, error)) {
	return func(callback func([]SocketDetails, error)) {
		sockets := []SocketDetails{}
		a.apply(opts, func(socket *Socket) {
			sockets = append(sockets, socket)
		})
		callback(sockets, nil)
	}
}

// AddSockets makes the matching socket instances join the specified rooms.
func (a *adapter) AddSockets(opts *BroadcastOptions, rooms []Room) {
	a.apply(opts, func(socket *Socket) {
		socket.Join(rooms...)
	})
}

// DelSockets makes the matching socket instances leave the specified rooms.
func (a *adapter) DelSockets(opts *BroadcastOptions, rooms []Room) {
	a.apply(opts, func(socket *Socket) {
		for _, room := range rooms {
			socket.Leave(room)
		}
	})
}

// DisconnectSockets makes the matching socket instances disconnect.
func (a *adapter) DisconnectSockets(opts *BroadcastOptions, status bool) {
	a.apply(opts, func(socket *Socket) {
		socket.Disconnect(status)
	})
}

func (a *adapter) apply(opts *BroadcastOptions, callback func(*Socket)) {
	if opts == nil {
		opts = &BroadcastOptions{
			Rooms:  types.NewSet[Room](),
			Except: types.NewSet[Room](),
		}
	}

	rooms := opts.Rooms
	except := a.computeExceptSids(opts.Except)

	if rooms == nil || rooms.Len() <= 1 {
		// One room or every socket (Switchboard patch): the recipients come from a snapshot
		// (see recipients), and a room's members are distinct, so no set of the sockets
		// already written to is built (a map of every recipient, per broadcast).
		var room Room
		all := rooms == nil || rooms.Len() == 0
		if !all {
			room = rooms.Keys()[0]
		}
		excepting := except.Len() > 0 // the set locks on every call: asked once, not per recipient
		for _, socket := range a.recipients(room, all) {
			if excepting && except.Has(socket.Id()) {
				continue
			}
			if socket.Connected() {
				callback(socket)
			}
		}
		return
	}
	ids := types.NewSet[SocketId]()
	for _, room := range rooms.Keys() {
		if _ids, ok := a.rooms.Load(room); ok {
			for _, id := range _ids.Keys() {
				if ids.Has(id) || except.Has(id) {
					continue
				}
				if socket, ok := a.nsp.Sockets().Load(id); ok {
					if socket.Connected() {
						callback(socket)
					}
					ids.Add(id)
				}
			}
		}
	}
}

func (a *adapter) computeExceptSids(exceptRooms *types.Set[Room]) *types.Set[SocketId] {
	exceptSids := types.NewSet[SocketId]()
	if exceptRooms != nil && exceptRooms.Len() > 0 {
		for _, room := range exceptRooms.Keys() {
			if ids, ok := a.rooms.Load(room); ok {
				exceptSids.Add(ids.Keys()...)
			}
		}
	}
	return exceptSids
}

// ServerSideEmit sends a packet to the other Socket.IO servers in the cluster.
func (a *adapter) ServerSideEmit(packet []any) error {
	return fmt.Errorf(`this adapter does not support the ServerSideEmit() functionality`)
}

// PersistSession saves the client session to restore it upon reconnection.
func (a *adapter) PersistSession(session *SessionToPersist) {
}

// RestoreSession restores the session and finds the packets missed by the client.
func (a *adapter) RestoreSession(pid PrivateSessionId, offset string) (*Session, error) {
	return nil, nil
}
