/*
 * fuzz_addr - libFuzzer harness for address parsing.
 * Invariant: whatever parses formats back to text that parses to the same
 * address (parse(format(a)) == a), and the sockaddr round trip agrees: the
 * address read back from a's sockaddr gives the same sockaddr again (it need
 * not equal a: [::ffff:a.b.c.d] has an IPv4 sockaddr, so it comes back IPv4).
 * A sockaddr has no socket type: b takes a's (udp:, unixgram:, seqpacket:)
 * before they are compared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], again[PL_ADDR_TEXT_MAX];
	struct pl_addr a, b;
	struct sockaddr_storage ss, ss2;
	socklen_t len, len2;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (unsigned flags = 0; flags < 2; flags++) {
		if (pl_addr_parse(&a, text, 1234, flags, NULL) < 0)
			continue;
		pl_addr_format(&a, again, sizeof(again));
		if (pl_addr_parse(&b, again, 1234, flags, NULL) < 0 || !pl_addr_equal(&a, &b))
			abort();
		if (pl_addr_to_sockaddr(&a, &ss, &len) == 0 &&
		    (pl_addr_from_sockaddr(&b, (struct sockaddr *)&ss, len) < 0 ||
		     (b.sock = a.sock, 0) ||
		     pl_addr_to_sockaddr(&b, &ss2, &len2) < 0 || len2 != len ||
		     memcmp(&ss, &ss2, len) != 0 ||
		     (pl_addr_sa_family(&a) == pl_addr_sa_family(&b) && a.kind == b.kind &&
		      !pl_addr_equal(&a, &b))))
			abort();
	}
	return 0;
}
