# Foctet.py: PyGObject overrides for the Foctet namespace, so that its
# values behave as Python values: NodeIds compare and hash by their key
# and print as their text, tickets print as theirs, and an identity can be
# read from PEM text without counting its bytes.  Installed in gi/overrides
# beside PyGObject's own; `from gi.repository import Foctet` loads it.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

from gi.module import get_introspection_module
from gi.overrides import override

Foctet = get_introspection_module('Foctet')

__all__ = []


class NodeId(Foctet.NodeId):
    """A node's identity: equal NodeIds compare equal and hash alike, so
    they work as dictionary keys and in sets; str() gives the 52-character
    text that Foctet.NodeId.parse() reads."""

    def __eq__(self, other):
        if not isinstance(other, Foctet.NodeId):
            return NotImplemented
        return Foctet.NodeId.equal(self, other)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return Foctet.NodeId.hash(self)

    def __str__(self):
        return self.to_string()

    def __repr__(self):
        return '<Foctet.NodeId %s>' % self.to_string()


NodeId = override(NodeId)
__all__.append('NodeId')


class Ticket(Foctet.Ticket):
    """str() gives the ticket's text, as Foctet.Ticket.parse() reads it."""

    def __str__(self):
        return self.to_string()

    def __repr__(self):
        return '<Foctet.Ticket %s>' % self.to_string()


Ticket = override(Ticket)
__all__.append('Ticket')


class Identity(Foctet.Identity):
    @classmethod
    def new_from_pem(cls, pem, length=-1):
        """Reads an identity from an unencrypted PEM private key, given
        as str or bytes; length is optional (all of it by default)."""
        if isinstance(pem, (bytes, bytearray, memoryview)):
            pem = bytes(pem).decode('ascii')
        return Foctet.Identity.new_from_pem(pem, length)


Identity = override(Identity)
__all__.append('Identity')
