package star

import (
	"net"
	"strconv"
)

// Binary is star's path in its image (internal/imagebuild puts it there): what every
// exec and session runs.
const Binary = "/star"

// StatusURL is the check target of a star server's /status at host:port. A host given by
// name with ipv6 is resolved to its AAAA record only (http+ipv6://); an address is
// reached as it is, of its own family.
func StatusURL(host string, port int32, ipv6 bool) string {
	scheme := "http"
	if ipv6 && net.ParseIP(host) == nil {
		scheme += "+ipv6"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(port))) + "/status"
}

// LookupURL is the check target of a DNS lookup of name over protocol ("udp" or "tcp"):
// of its A records, or with ipv6 its AAAA records (dns+udp+ipv6://).
func LookupURL(name, protocol string, ipv6 bool) string {
	scheme := "dns+" + protocol
	if ipv6 {
		scheme += "+ipv6"
	}
	return scheme + "://" + name
}
