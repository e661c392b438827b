"""The few rtnetlink requests the runtime makes, over the socket module's AF_NETLINK.

What ``ip link``/``ip addr``/``ip route`` would send, without starting ``ip``: an
exec per step was most of a bridge container's create. A library (pyroute2) was
measured and not taken: importing it costs 0.3-1.4 s and it forks a child for
every network namespace it creates or enters, more than the execs it would save.

Messages are built by pure functions (bytes out, testable without a kernel);
``Rtnl`` sends one at a time and waits for the kernel's acknowledgement, raising
``NetworkError`` with the kernel's errno. A socket belongs to the network
namespace of the thread that opened it (netns.py opens one inside a container's).
"""

import errno
import ipaddress
import os
import socket
import struct

from .errors import NetworkError

RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLMSG_ERROR = 2
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
NLM_F_ACK_TLVS, NLMSGERR_ATTR_MSG = 0x200, 1

IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
VETH_INFO_PEER = 1
IFLA_BRPORT_ISOLATED = 33
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HEADER = struct.Struct("=IHHII")      # nlmsghdr: length, type, flags, sequence, port id
_IFINFO = struct.Struct("=BxHiII")     # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")      # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")   # rtmsg: family, dst/src length, tos, table, protocol, scope, type, flags


def attr(kind: int, payload: bytes) -> bytes:
    """One route attribute (rtattr), padded to 4 bytes; nest by passing attributes as the payload."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def name_attr(kind: int, name: str) -> bytes:
    return attr(kind, name.encode() + b"\0")


def ifinfo(index: int = 0, up: bool | None = None) -> bytes:
    """An ifinfomsg; `up` True/False changes the link's IFF_UP flag, None leaves it."""
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, 0 if up is None else IFF_UP)


def veth_pair(name: str, peer: str, peer_netns_fd: int, peer_mac: bytes, master: int) -> bytes:
    """RTM_NEWLINK body: a veth pair whose `name` end is a port of bridge `master` (an index) here,
    and whose `peer` end, with address `peer_mac`, is in the namespace open as `peer_netns_fd`."""
    peer_info = ifinfo() + name_attr(IFLA_IFNAME, peer) + attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
    peer_info += attr(IFLA_ADDRESS, peer_mac)
    linkinfo = name_attr(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
    return (ifinfo() + name_attr(IFLA_IFNAME, name) + attr(IFLA_MASTER, struct.pack("=I", master))
            + attr(IFLA_LINKINFO, linkinfo))


def bridge(name: str) -> bytes:
    """RTM_NEWLINK body: a bridge."""
    return ifinfo() + name_attr(IFLA_IFNAME, name) + attr(IFLA_LINKINFO, name_attr(IFLA_INFO_KIND, "bridge"))


def isolated_port_up(name: str) -> bytes:
    """RTM_NEWLINK body for an existing bridge port: isolated (it reaches only the bridge's
    non-isolated ports, the host), then up. The kernel applies the port's settings before the
    flags, so the port never forwards unisolated."""
    slave = name_attr(IFLA_INFO_SLAVE_KIND, "bridge")
    slave += attr(IFLA_INFO_SLAVE_DATA, attr(IFLA_BRPORT_ISOLATED, b"\1"))
    return ifinfo(up=True) + name_attr(IFLA_IFNAME, name) + attr(IFLA_LINKINFO, slave)


def link_up(name: str) -> bytes:
    return ifinfo(up=True) + name_attr(IFLA_IFNAME, name)


def link_named(name: str) -> bytes:
    """The body naming a link for RTM_DELLINK."""
    return ifinfo() + name_attr(IFLA_IFNAME, name)


def address(index: int, interface: ipaddress.IPv4Interface) -> bytes:
    """RTM_NEWADDR body: `interface` (address/prefix) on link `index`, as ``ip addr add`` gives it."""
    packed = interface.ip.packed
    return (_IFADDR.pack(socket.AF_INET, interface.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index)
            + attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed))


def default_route(gateway: ipaddress.IPv4Address) -> bytes:
    """RTM_NEWROUTE body: the main table's default route via `gateway`, as ``ip route add`` makes it."""
    return (_RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
            + attr(RTA_GATEWAY, gateway.packed))


def _message(tlvs: bytes) -> str:
    """The extended acknowledgement's text, if the kernel gave one."""
    offset = 0
    while offset + 4 <= len(tlvs):
        length, kind = struct.unpack_from("=HH", tlvs, offset)
        if length < 4:
            break
        if kind == NLMSGERR_ATTR_MSG:
            return tlvs[offset + 4:offset + length].split(b"\0", 1)[0].decode(errors="replace")
        offset += length + (-length % 4)
    return ""


class Rtnl:
    """An rtnetlink socket in the network namespace of the thread that made it."""

    def __init__(self):
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                      socket.NETLINK_ROUTE)
            # The kernel's own words with a refusal ("Nexthop has invalid gateway"), and
            # only the header of our request echoed back, not all of it.
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self.sock.bind((0, 0))
        except OSError as exc:
            raise NetworkError(f"opening a netlink socket: {exc.strerror}") from None
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, kind: int, body: bytes, what: str, flags: int = 0) -> None:
        """Send one request and wait for its acknowledgement; a refusal is a NetworkError naming `what`."""
        self.seq += 1
        try:
            self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                                        self.seq, 0) + body)
            code, said = self._ack()
        except OSError as exc:
            raise NetworkError(f"{what}: {exc.strerror}", errno=exc.errno or 0) from None
        if code:
            raise NetworkError(f"{what}: {os.strerror(code)}" + (f" ({said})" if said else ""), errno=code)

    def _ack(self) -> tuple[int, str]:
        """The errno of the answer to the last request (0: done) and the kernel's message. Others are skipped."""
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, flags, seq, _port = _HEADER.unpack_from(data, offset)
                if kind == NLMSG_ERROR and seq == self.seq:
                    code = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    tlvs = data[offset + _HEADER.size + 4 + _HEADER.size:offset + length]
                    return code, _message(tlvs) if flags & NLM_F_ACK_TLVS else ""
                offset += max(length + (-length % 4), _HEADER.size)

    # -- the requests the runtime makes ---------------------------------------

    def add_bridge(self, name: str) -> None:
        self.request(RTM_NEWLINK, bridge(name), f"adding bridge {name}", NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, peer: str, peer_netns_fd: int, peer_mac: bytes, master: str) -> None:
        self.request(RTM_NEWLINK, veth_pair(name, peer, peer_netns_fd, peer_mac, socket.if_nametoindex(master)),
                     f"adding veth {name} to {master}", NLM_F_CREATE | NLM_F_EXCL)

    def isolate_and_up(self, name: str) -> None:
        self.request(RTM_NEWLINK, isolated_port_up(name), f"isolating bridge port {name}")

    def up(self, name: str) -> None:
        self.request(RTM_NEWLINK, link_up(name), f"setting {name} up")

    def add_address(self, name: str, interface: ipaddress.IPv4Interface, replace: bool = False) -> None:
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        self.request(RTM_NEWADDR, address(socket.if_nametoindex(name), interface),
                     f"adding {interface} to {name}", flags)

    def add_default_route(self, gateway: ipaddress.IPv4Address) -> None:
        self.request(RTM_NEWROUTE, default_route(gateway), f"adding the default route via {gateway}",
                     NLM_F_CREATE | NLM_F_EXCL)

    def delete(self, name: str) -> bool:
        """Delete a link (a veth takes its peer along); False when there was none."""
        try:
            self.request(RTM_DELLINK, link_named(name), f"deleting {name}")
        except NetworkError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True
