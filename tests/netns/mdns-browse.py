#!/usr/bin/python3
# mdns-browse.py NODEID...: what a GNOME app's "devices nearby" does, from
# Python through GObject introspection — a node with the mdns discovery,
# its GListModel of peers watched on a GLib.MainLoop (items-changed, no
# polling) until every NODEID is in it.  Prints "found NODEID ADDRESS..."
# for each, then dials the first one's ticket and prints "dialed NODEID
# via=TRANSPORT".  Exits 1 if that does not happen within 10 s.  Run by
# tests/netns/test-mdns.c inside a namespace of its bridge lab.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import sys

import gi
gi.require_version('Foctet', '1')
gi.require_version('GLib', '2.0')
from gi.repository import Foctet, GLib  # noqa: E402

TIMEOUT_SECONDS = 10


def main(wanted):
    loop = GLib.MainLoop()
    node = Foctet.Node.new(Foctet.Identity.generate())
    node.enable_discovery('mdns', Foctet.DiscoveryFlags.NONE)
    peers = node.get_peers()
    found = {}
    state = {'failed': None, 'dialed': None}

    def look(*args):
        for i in range(peers.get_n_items()):
            peer = peers.get_item(i)
            node_id = peer.props.node_id.to_string()
            if node_id in wanted and node_id not in found:
                found[node_id] = peer
                print('found', node_id, ' '.join(peer.get_addresses()), flush=True)
        if len(found) == len(wanted) and state['dialed'] is None:
            state['dialed'] = 'pending'
            node.dial_async(found[wanted[0]].get_ticket(), None, None, dialed)

    def dialed(source, result, *args):
        try:
            connection = node.dial_finish(result)
            state['dialed'] = connection.get_peer_id().to_string()
            print('dialed', state['dialed'], 'via=' + connection.get_transport_name(), flush=True)
        except GLib.Error as error:
            state['failed'] = error.message
        loop.quit()

    def timed_out():
        state['failed'] = 'timed out with %d of %d peers' % (len(found), len(wanted))
        loop.quit()
        return GLib.SOURCE_REMOVE

    peers.connect('items-changed', look)
    look()
    GLib.timeout_add_seconds(TIMEOUT_SECONDS, timed_out)
    loop.run()

    done = [False]
    node.shutdown_async(None, lambda *args: done.__setitem__(0, True))
    while not done[0]:
        loop.get_context().iteration(True)
    if state['failed'] is not None:
        print('mdns-browse:', state['failed'], file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
