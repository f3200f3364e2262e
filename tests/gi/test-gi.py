#!/usr/bin/python3
# Foctet from Python through GObject introspection: identity, tickets, the
# plugin registry, and two nodes pinging each other on a GLib.MainLoop over a
# transport plugin loaded at run time, plus a protocol handler written in Python,
# and what a transport written in Python builds on: FoctetSocketService.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import unittest

import gi
gi.require_version('Foctet', '1')
gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
gi.require_version('GObject', '2.0')
from gi.repository import Foctet, GLib, Gio, GObject  # noqa: E402

TIMEOUT_MS = 20000


def run_until(loop, done):
    """Runs loop until done() holds, failing after TIMEOUT_MS."""
    timed_out = []

    def on_timeout():
        timed_out.append(True)
        loop.quit()
        return GLib.SOURCE_REMOVE

    source = GLib.timeout_add(TIMEOUT_MS, on_timeout)
    while not done() and not timed_out:
        loop.get_context().iteration(True)
    if not timed_out:
        GLib.source_remove(source)
    if timed_out:
        raise AssertionError('timed out')


class Call:
    """Collects the result of one _async call."""

    def __init__(self):
        self.result = None

    def __call__(self, source, result, *args):
        self.result = (source, result)


class SocketService(unittest.TestCase):
    """A transport written in Python accepts TCP connections as the tls
    transport does: a FoctetSocketService over a listening socket."""

    def test_accepts(self):
        loop = GLib.MainLoop()
        address = Gio.InetSocketAddress.new_from_string('127.0.0.1', 0)
        listening = Foctet.tcp_listener_socket_new(address)
        port = listening.get_local_address().get_port()
        tag = GObject.Object()
        accepted = []

        service = Foctet.SocketService.new()
        service.connect('incoming', lambda s, conn, source: accepted.append((conn, source)))
        service.add_socket(listening, tag)
        self.assertFalse(service.is_active())
        service.start()
        self.assertTrue(service.is_active())

        client = Gio.SocketClient.new().connect_to_host('127.0.0.1:%d' % port, 0, None)
        run_until(loop, lambda: accepted)
        connection, source = accepted[0]
        self.assertIs(source, tag)
        self.assertEqual(connection.get_remote_address().get_port(),
                         client.get_local_address().get_port())

        service.stop()
        self.assertFalse(service.is_active())
        service.close()
        client.close(None)
        connection.close(None)


class IdentityAndTickets(unittest.TestCase):
    def test_identity(self):
        identity = Foctet.Identity.generate()
        node_id = identity.get_node_id()
        text = node_id.to_string()
        self.assertEqual(len(text), 52)
        self.assertEqual(text, text.lower())
        again = Foctet.NodeId.parse(text.upper())
        self.assertTrue(Foctet.NodeId.equal(node_id, again))
        self.assertEqual(len(node_id.get_bytes().get_data()), 32)

    def test_python_values(self):
        # The overrides (bindings/python/gi/overrides/Foctet.py): NodeIds
        # compare and hash by key, print as text; tickets print as text;
        # PEM text is read without counting it.
        identity = Foctet.Identity.generate()
        node_id = identity.get_node_id()
        again = Foctet.NodeId.parse(str(node_id))
        other = Foctet.Identity.generate().get_node_id()
        self.assertIsNot(node_id, again)
        self.assertEqual(node_id, again)
        self.assertNotEqual(node_id, other)
        self.assertFalse(node_id != again)
        self.assertNotEqual(node_id, str(node_id))
        self.assertEqual(hash(node_id), hash(again))
        self.assertEqual(len({node_id, again, other}), 2)
        self.assertEqual({node_id: 'x'}[again], 'x')
        self.assertEqual(str(node_id), node_id.to_string())
        self.assertIn(node_id.to_string(), repr(node_id))

        ticket = Foctet.Ticket.new(node_id)
        self.assertEqual(str(ticket), ticket.to_string())
        self.assertEqual(Foctet.Ticket.parse(str(ticket)).get_node_id(), node_id)

        pem = identity.export_private_key_pem()
        self.assertEqual(Foctet.Identity.new_from_pem(pem).get_node_id(), node_id)
        self.assertEqual(Foctet.Identity.new_from_pem(pem.encode('ascii')).get_node_id(), node_id)
        self.assertEqual(Foctet.Identity.new_from_pem(pem, len(pem)).get_node_id(), node_id)
        with self.assertRaises(GLib.Error) as caught:
            Foctet.Identity.new_from_pem('not a key')
        self.assertEqual(caught.exception.code, Foctet.Error.INVALID_KEY)

    def test_bad_node_id(self):
        with self.assertRaises(GLib.Error) as caught:
            Foctet.NodeId.parse('not-a-node-id')
        self.assertEqual(caught.exception.domain, 'foctet-error-quark')
        self.assertEqual(caught.exception.code, Foctet.Error.INVALID_NODE_ID)

    def test_ticket_round_trip(self):
        identity = Foctet.Identity.generate()
        ticket = Foctet.Ticket.new(identity.get_node_id())
        ticket.add_address(Foctet.AddressKind.TLS, '127.0.0.1:4433')
        ticket.add_address(Foctet.AddressKind.QUIC, '[::1]:4433')
        ticket.add_app_data(0x80, GLib.Bytes.new(b'secret'))
        text = ticket.to_string()
        self.assertTrue(text.startswith('foctet'))
        parsed = Foctet.Ticket.parse(text)
        self.assertTrue(Foctet.NodeId.equal(parsed.get_node_id(), identity.get_node_id()))
        self.assertEqual(parsed.get_addresses(Foctet.AddressKind.TLS), ['127.0.0.1:4433'])
        self.assertEqual(parsed.get_addresses(Foctet.AddressKind.QUIC), ['[::1]:4433'])
        self.assertEqual(parsed.get_uris(), ['quic/[::1]:4433', 'tls/127.0.0.1:4433'])
        self.assertTrue(parsed.has_address(Foctet.AddressKind.TLS))
        self.assertFalse(parsed.has_address(Foctet.AddressKind.RELAY))
        self.assertEqual(parsed.get_app_data(0x80).get_data(), b'secret')

    def test_bad_ticket(self):
        with self.assertRaises(GLib.Error) as caught:
            Foctet.Ticket.parse('foctetINVALID!')
        self.assertEqual(caught.exception.code, Foctet.Error.INVALID_TICKET)


class PyConnection(Foctet.Connection):
    """What a transport written in Python subclasses."""


class ConnectionSubclass(unittest.TestCase):
    def closes(self, close):
        connection = PyConnection(transport_name='py', local_address='a', remote_address='b')
        seen = []
        connection.connect('closed', lambda c, error: seen.append(error))
        close(connection)
        close(connection)  # later calls do nothing
        self.assertTrue(connection.is_closed())
        self.assertEqual(len(seen), 1)
        return seen[0]

    def test_closed_cleanly(self):
        self.assertIsNone(self.closes(lambda c: c.set_closed_cleanly()))

    def test_closed_with_error(self):
        error = GLib.Error.new_literal(Gio.io_error_quark(), 'gone', Gio.IOErrorEnum.CONNECTION_CLOSED)
        seen = self.closes(lambda c: c.set_closed(error))
        self.assertEqual(seen.message, 'gone')


class Plugins(unittest.TestCase):
    def test_registry_lists_test_transport(self):
        registry = Foctet.Registry.get_default()
        names = registry.list_names(Foctet.PluginKind.TRANSPORT)
        self.assertIn('tcp-test', names)
        plugins = registry.get_plugins()
        found = [plugins.get_item(i) for i in range(plugins.get_n_items())]
        tcp = [p for p in found if p.get_name() == 'tcp-test']
        self.assertEqual(len(tcp), 1)
        self.assertEqual(tcp[0].get_kind(), Foctet.PluginKind.TRANSPORT)
        self.assertTrue(os.path.isfile(tcp[0].get_filename()))


class ListenerSignals(unittest.TestCase):
    """A transport (one written in Python included) reports a listener
    lost and restored; the node passes both on, with the GError."""

    def test_node_forwards(self):
        node = Foctet.Node.new(Foctet.Identity.generate())
        transport = node.get_transport('tcp-test')
        got = []
        node.connect('listener-lost',
                     lambda n, t, address, error: got.append(('lost', t.get_name(), address, error.code)))
        node.connect('listener-restored',
                     lambda n, t, address: got.append(('restored', t.get_name(), address)))
        error = GLib.Error.new_literal(Foctet.error_quark(), 'went away', Foctet.Error.CONNECTION_CLOSED)
        transport.emit_listener_lost('relay.example:443', error)
        transport.emit_listener_restored('relay.example:443')
        self.assertEqual(got, [('lost', 'tcp-test', 'relay.example:443', Foctet.Error.CONNECTION_CLOSED),
                               ('restored', 'tcp-test', 'relay.example:443')])


class TwoNodes(unittest.TestCase):
    """Two nodes over the test-only tcp-test transport."""
    TRANSPORT = 'tcp-test'

    def setUp(self):
        self.loop = GLib.MainLoop()
        self.server = Foctet.Node.new(Foctet.Identity.generate())
        self.client = Foctet.Node.new(Foctet.Identity.generate())

        call = Call()
        self.server.listen_async(self.TRANSPORT + '/127.0.0.1:0', None, call)
        run_until(self.loop, lambda: call.result)
        self.uri = self.server.listen_finish(call.result[1])
        self.assertTrue(self.uri.startswith(self.TRANSPORT + '/127.0.0.1:'))

        call = Call()
        self.client.dial_uri_async(self.server.get_node_id(), self.uri, None, call)
        run_until(self.loop, lambda: call.result)
        self.connection = self.client.dial_uri_finish(call.result[1])
        self.assertEqual(self.connection.get_transport_name(), self.TRANSPORT)

    def tearDown(self):
        for node in (self.client, self.server):
            call = Call()
            node.shutdown_async(None, call)
            run_until(self.loop, lambda: call.result)
            self.assertTrue(node.shutdown_finish(call.result[1]))

    def test_ping(self):
        self.assertTrue(Foctet.NodeId.equal(self.connection.get_peer_id(),
                                            self.server.get_node_id()))
        pinger = Foctet.Pinger.new(self.connection)
        for _ in range(3):
            call = Call()
            pinger.ping_async(None, call)
            run_until(self.loop, lambda: call.result)
            rtt = pinger.ping_finish(call.result[1])
            self.assertGreaterEqual(rtt, 0)
            self.assertLess(rtt, 5 * 1000 * 1000)
        call = Call()
        pinger.close_async(None, call)
        run_until(self.loop, lambda: call.result)
        self.assertTrue(pinger.close_finish(call.result[1]))

    def test_perf(self):
        call = Call()
        Foctet.perf_run_async(self.connection, 100000, 200000, None, call)
        run_until(self.loop, lambda: call.result)
        result = Foctet.perf_run_finish(call.result[1])
        self.assertEqual(result.upload_bytes, 100000)
        self.assertEqual(result.download_bytes, 200000)
        self.assertLessEqual(result.started_at, result.first_byte_at)
        self.assertLessEqual(result.first_byte_at, result.ended_at)
        # Several runs at once add up through merge().
        total = Foctet.PerfResult()
        total.merge(result)
        total.merge(result)
        self.assertEqual(total.download_bytes, 400000)
        self.assertEqual(total.started_at, result.started_at)

    def test_python_protocol_handler(self):
        seen = []

        def on_stream(node, connection, stream):
            seen.append(stream.get_protocol())

            def on_request(source, result):
                data = source.read_bytes_finish(result).get_data()
                stream.get_output_stream().write_all(data[::-1], None)
                stream.close(None)

            # Never block the loop: the peer's bytes may not be here yet.
            stream.get_input_stream().read_bytes_async(5, GLib.PRIORITY_DEFAULT, None, on_request)

        self.server.set_protocol_handler('test/reverse/1', on_stream)

        call = Call()
        self.connection.open_stream_async('test/reverse/1', None, call)
        run_until(self.loop, lambda: call.result)
        stream = self.connection.open_stream_finish(call.result[1])
        stream.get_output_stream().write_all(b'hello', None)

        reply = []

        def on_read(source, result):
            reply.append(source.read_bytes_finish(result).get_data())

        stream.get_input_stream().read_bytes_async(5, GLib.PRIORITY_DEFAULT, None, on_read)
        run_until(self.loop, lambda: reply)
        self.assertEqual(reply[0], b'olleh')
        self.assertEqual(seen, ['test/reverse/1'])


    def test_handler_removes_itself(self):
        # A one-shot handler: PyGObject's closure must outlive the call.
        got = []

        def once(node, connection, stream):
            got.append(stream)
            node.set_protocol_handler('test/once/1', None)

        self.server.set_protocol_handler('test/once/1', once)
        call = Call()
        self.connection.open_stream_async('test/once/1', None, call)
        run_until(self.loop, lambda: call.result)
        self.connection.open_stream_finish(call.result[1])
        run_until(self.loop, lambda: got)
        self.assertNotIn('test/once/1', self.server.list_protocols())

    def test_list_connections_and_streams(self):
        # The arrays hold a reference on each element; listing again and
        # again must leave the objects' own references alone.
        call = Call()
        self.connection.open_stream_async('foctet/ping/1', None, call)
        run_until(self.loop, lambda: call.result)
        stream = self.connection.open_stream_finish(call.result[1])
        connection_refs = self.connection.__grefcount__
        stream_refs = stream.__grefcount__
        for _ in range(10):
            connections = self.client.list_connections()
            self.assertEqual(len(connections), 1)
            self.assertIs(connections[0], self.connection)
            streams = self.connection.list_streams()
            self.assertEqual(len(streams), 1)
            self.assertIs(streams[0], stream)
            self.assertEqual(streams[0].get_protocol(), 'foctet/ping/1')
            del connections, streams
        self.assertEqual(self.connection.__grefcount__, connection_refs)
        self.assertEqual(stream.__grefcount__, stream_refs)
        stream.close(None)

class TwoNodesTls(TwoNodes):
    """The same over the real tls transport with yamux inside."""
    TRANSPORT = 'tls'


class IncomingFailed(unittest.TestCase):
    """The node's incoming-failed signal, from Python: bytes that are not
    TLS sent to its tls listener."""

    def test_garbage(self):
        loop = GLib.MainLoop()
        node = Foctet.Node.new(Foctet.Identity.generate())
        failures = []
        node.connect('incoming-failed',
                     lambda node, transport, remote, error:
                     failures.append((transport.get_name(), remote, error)))
        call = Call()
        node.listen_async('tls/127.0.0.1:0', None, call)
        run_until(loop, lambda: call.result)
        uri = node.listen_finish(call.result[1])

        call = Call()
        Gio.SocketClient().connect_to_host_async(uri[len('tls/'):], 0, None, call)
        run_until(loop, lambda: call.result)
        connection = call.result[0].connect_to_host_finish(call.result[1])
        connection.get_output_stream().write_all(b'GET / HTTP/1.0\r\n\r\n', None)
        local = connection.get_local_address()
        run_until(loop, lambda: failures)

        name, remote, error = failures[0]
        self.assertEqual(name, 'tls')
        self.assertEqual(remote, '127.0.0.1:%d' % local.get_port())
        self.assertIsInstance(error, GLib.Error)
        self.assertNotEqual(error.message, '')
        connection.close(None)

        call = Call()
        node.shutdown_async(None, call)
        run_until(loop, lambda: call.result)
        self.assertTrue(node.shutdown_finish(call.result[1]))


class ThroughRelay(unittest.TestCase):
    """A node reachable only through a foctet-relay, from Python."""

    def setUp(self):
        self.loop = GLib.MainLoop()
        launcher = Gio.SubprocessLauncher.new(Gio.SubprocessFlags.STDOUT_PIPE)
        self.relay = launcher.spawnv([os.environ['FOCTET_RELAY'], '--listen', '127.0.0.1:0'])
        out = Gio.DataInputStream.new(self.relay.get_stdout_pipe())
        line = []

        def on_line(source, result):
            line.append(source.read_line_finish_utf8(result)[0])

        out.read_line_async(GLib.PRIORITY_DEFAULT, None, on_line)
        run_until(self.loop, lambda: line)
        words = line[0].split(' ')
        self.assertEqual(words[0], 'relay')
        self.relay_address = words[2]
        self.server = Foctet.Node.new(Foctet.Identity.generate())
        self.client = Foctet.Node.new(Foctet.Identity.generate())

    def tearDown(self):
        for node in (self.client, self.server):
            call = Call()
            node.shutdown_async(None, call)
            run_until(self.loop, lambda: call.result)
            self.assertTrue(node.shutdown_finish(call.result[1]))
        self.relay.send_signal(15)
        call = Call()
        self.relay.wait_async(None, call)
        run_until(self.loop, lambda: call.result)
        self.assertTrue(self.relay.get_successful())

    def test_ping_via_relay(self):
        notified = []
        self.server.connect('notify::observed-addresses', lambda *args: notified.append(True))

        call = Call()
        self.server.listen_async('relay/' + self.relay_address, None, call)
        run_until(self.loop, lambda: call.result)
        self.assertEqual(self.server.listen_finish(call.result[1]), 'relay/' + self.relay_address)
        observed = self.server.get_observed_addresses()
        self.assertEqual(len(observed), 1)
        self.assertTrue(observed[0].startswith('127.0.0.1:'))
        self.assertTrue(notified)

        ticket = self.server.get_ticket()
        self.assertEqual(ticket.get_addresses(Foctet.AddressKind.RELAY), [self.relay_address])
        call = Call()
        self.client.dial_async(ticket, None, None, call)
        run_until(self.loop, lambda: call.result)
        connection = self.client.dial_finish(call.result[1])
        self.assertEqual(connection.get_transport_name(), 'relay')

        pinger = Foctet.Pinger.new(connection)
        call = Call()
        pinger.ping_async(None, call)
        run_until(self.loop, lambda: call.result)
        self.assertGreaterEqual(pinger.ping_finish(call.result[1]), 0)
        call = Call()
        pinger.close_async(None, call)
        run_until(self.loop, lambda: call.result)
        self.assertTrue(pinger.close_finish(call.result[1]))


class PyDiscovery(GObject.Object, Foctet.Discovery):
    """A discovery mechanism written in Python: it "finds" the peers the
    test hands it, later, from the main loop."""
    identity = GObject.Property(type=Foctet.Identity)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.store = Gio.ListStore.new(Foctet.Peer)
        self.started = 0
        self.stopped = 0
        self.published = []

    def do_get_name(self):
        return 'python'

    def do_start(self):
        self.started += 1
        return True

    def do_stop(self):
        self.stopped += 1

    def do_publish(self, own):
        self.published.append(own)

    def do_get_peers(self):
        return self.store


class BrowsePeers(unittest.TestCase):
    """A GNOME app's view of "devices nearby": the node's GListModel of
    peers, changing on the main loop, each peer a ticket to dial."""
    TRANSPORT = 'tls'

    def test_browse_and_dial(self):
        loop = GLib.MainLoop()
        server = Foctet.Node.new(Foctet.Identity.generate())
        client = Foctet.Node.new(Foctet.Identity.generate())
        call = Call()
        server.listen_async(self.TRANSPORT + '/127.0.0.1:0', None, call)
        run_until(loop, lambda: call.result)
        uri = server.listen_finish(call.result[1])

        discovery = PyDiscovery(identity=client.get_identity())
        self.assertTrue(client.add_discovery(discovery, Foctet.DiscoveryFlags.PUBLISH))
        self.assertEqual(discovery.started, 1)
        peers = client.get_peers()
        self.assertEqual(peers.get_item_type(), Foctet.Peer.__gtype__)
        self.assertEqual(peers.get_n_items(), 0)

        changes = []
        peers.connect('items-changed', lambda model, pos, removed, added:
                      changes.append((pos, removed, added)))
        found = Foctet.Peer.new(server.get_ticket(), 'python', 120)
        GLib.timeout_add(50, lambda: discovery.store.append(found) or GLib.SOURCE_REMOVE)
        run_until(loop, lambda: peers.get_n_items() == 1)
        self.assertEqual(changes, [(0, 0, 1)])

        peer = peers.get_item(0)
        self.assertTrue(Foctet.NodeId.equal(peer.props.node_id, server.get_node_id()))
        self.assertEqual(peer.props.source, 'python')
        self.assertEqual(peer.props.ttl, 120)
        self.assertFalse(peer.is_expired())
        self.assertEqual(peer.get_addresses(), [uri])

        # The user picks the device: dial its ticket.
        call = Call()
        client.dial_async(peer.get_ticket(), None, None, call)
        run_until(loop, lambda: call.result)
        connection = client.dial_finish(call.result[1])
        self.assertTrue(Foctet.NodeId.equal(connection.get_peer_id(), server.get_node_id()))

        # The device goes away.
        GLib.timeout_add(50, lambda: discovery.store.remove(0) or GLib.SOURCE_REMOVE)
        run_until(loop, lambda: peers.get_n_items() == 0)
        self.assertEqual(changes[-1], (0, 1, 0))

        for node in (client, server):
            call = Call()
            node.shutdown_async(None, call)
            run_until(loop, lambda: call.result)
            self.assertTrue(node.shutdown_finish(call.result[1]))
        self.assertEqual(discovery.stopped, 1)


if __name__ == '__main__':
    unittest.main(verbosity=2)
