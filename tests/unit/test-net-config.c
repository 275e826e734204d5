// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pure parts of src/net: MAC and name parsing, the check of VF settings, the
 * wire form of struct vfm_vf_config (golden bytes, round trips, every refusal of
 * decode), field names, and the libnl error mapping.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <netlink/errno.h>

#include "macro.h"
#include "net-internal.h"
#include "net.h"
#include "tap.h"

static struct vfm_vf_config full(void)
{
	return (struct vfm_vf_config){
		.have = VFM_VF_ALL,
		.vf = 3,
		.mac = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55},
		.vlan = 4095,
		.qos = 7,
		.vlan_proto = VFM_ETH_P_8021AD,
		.link_state = VFM_VF_LINK_STATE_DISABLE,
		.spoofchk = true,
		.trust = false,
		.rss_query = true,
		.min_tx_rate = 10,
		.max_tx_rate = 0xfffffffe,
	};
}

static void test_mac(void)
{
	static const struct {
		const char *s;
		int r;
		uint8_t mac[6];
	} t[] = {
		{"52:54:00:12:34:56", 0, {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}},
		{"AA:bb:Cc:dD:ee:FF", 0, {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
		{"52-54-00-12-34-56", 0, {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}},
		{"00:00:00:00:00:00", 0, {0}},
		{"52:54-00:12:34:56", -EINVAL, {0}}, /* mixed separators */
		{"52:54:00:12:34", -EINVAL, {0}},
		{"52:54:00:12:34:56:78", -EINVAL, {0}},
		{"52:54:00:12:34:5", -EINVAL, {0}},
		{"5:54:00:12:34:56", -EINVAL, {0}},
		{"525400123456", -EINVAL, {0}},
		{"52:54:00:12:34:5g", -EINVAL, {0}},
		{"52:54:00:12:34:56 ", -EINVAL, {0}},
		{" 52:54:00:12:34:56", -EINVAL, {0}},
		{"52.54.00.12.34.56", -EINVAL, {0}},
		{"", -EINVAL, {0}},
		{NULL, -EINVAL, {0}},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		uint8_t mac[6] = {9, 9, 9, 9, 9, 9};
		static const uint8_t untouched[6] = {9, 9, 9, 9, 9, 9};
		int r = vfm_mac_parse(t[i].s, mac);

		tap_ok(r == t[i].r && memcmp(mac, r == 0 ? t[i].mac : untouched, 6) == 0,
		       "vfm_mac_parse(\"%s\") = %d", t[i].s ? t[i].s : "(null)", r);
	}
	{
		char buf[18];
		uint8_t mac[6] = {0x02, 0xab, 0, 1, 0xfe, 0xff};

		vfm_mac_format(mac, buf);
		tap_ok(streq(buf, "02:ab:00:01:fe:ff"), "vfm_mac_format: %s", buf);
	}
}

static void test_names(void)
{
	char buf[64];
	uint8_t s = 99;
	int r;

	tap_ok(streq(vfm_vf_field_name(VFM_VF_RSS_QUERY), "rss-query") &&
		       streq(vfm_vf_field_name(VFM_VF_LINK_STATE), "link-state") &&
		       !vfm_vf_field_name(0) &&
		       !vfm_vf_field_name(VFM_VF_MAC | VFM_VF_VLAN) &&
		       !vfm_vf_field_name(1u << 7),
	       "field names: one known bit each");
	r = vfm_vf_fields_format(VFM_VF_ALL, buf, sizeof(buf));
	tap_ok(r > 0 && streq(buf, "mac,vlan,rate,spoofchk,trust,rss-query,link-state"),
	       "fields_format(all) = \"%s\"", buf);
	r = vfm_vf_fields_format(0, buf, sizeof(buf));
	tap_ok(r == 4 && streq(buf, "none"), "fields_format(0) = \"%s\"", buf);
	r = vfm_vf_fields_format(VFM_VF_TRUST | (1u << 9), buf, sizeof(buf));
	tap_ok(r > 0 && streq(buf, "trust,0x200"), "fields_format(unknown bit) = \"%s\"",
	       buf);
	r = vfm_vf_fields_format(VFM_VF_ALL, buf, 10);
	tap_eq(r, -ENOBUFS, "fields_format into a short buffer");
	tap_ok(vfm_vf_link_state_from_name("disable", &s) == 0 && s == 2 &&
		       vfm_vf_link_state_from_name("Disable", &s) == -EINVAL &&
		       vfm_vf_link_state_from_name("2", &s) == -EINVAL && s == 2 &&
		       !vfm_vf_link_state_name(3),
	       "link state names");
	tap_ok(streq(vfm_port_flavour_name(VFM_PORT_PCI_VF), "pcivf") &&
		       streq(vfm_port_flavour_name(VFM_PORT_OTHER), "other") &&
		       streq(vfm_eswitch_mode_name(VFM_ESWITCH_SWITCHDEV), "switchdev"),
	       "flavour and eswitch names");
	{
		struct vfm_vf_config c = full();

		r = vfm_vf_config_format(&c, buf, sizeof(buf));
		tap_eq(r, -ENOBUFS, "config_format into a short buffer");
	}
	{
		char line[256];
		struct vfm_vf_config c = full();

		vfm_vf_config_format(&c, line, sizeof(line));
		tap_ok(streq(line,
			     "mac 02:11:22:33:44:55 vlan 4095 qos 7 proto 802.1ad "
			     "min-rate 10 max-rate 4294967294 spoofchk on trust off "
			     "rss-query on link-state disable"),
		       "config_format: %s", line);
	}
}

static void test_check(void)
{
	struct vfm_vf_config c;
	char why[VFM_NET_WHY_MAX];

	c = full();
	tap_eq(vfm_vf_config_check(&c, why, sizeof(why)), 0,
	       "check: a full config is valid");
	c = (struct vfm_vf_config){0};
	tap_eq(vfm_vf_config_check(&c, why, sizeof(why)), 0,
	       "check: an empty config is valid");
	c = full();
	c.mac[0] = 0x01;
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL &&
		       strstr(why, "multicast"),
	       "check: multicast MAC: %s", why);
	memset(c.mac, 0xff, 6);
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL,
	       "check: broadcast MAC");
	c.have &= ~(uint32_t)VFM_VF_MAC;
	tap_eq(vfm_vf_config_check(&c, NULL, 0), 0,
	       "check: a MAC marked absent is not checked");
	c = full();
	c.vlan = 4096;
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL &&
		       strstr(why, "4096"),
	       "check: vlan 4096: %s", why);
	c = full();
	c.qos = 8;
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL &&
		       strstr(why, "qos 8"),
	       "check: qos 8: %s", why);
	c = full();
	c.vlan_proto = 0x0800;
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL &&
		       strstr(why, "0x0800"),
	       "check: VLAN protocol 0x0800: %s", why);
	c = full();
	c.min_tx_rate = 11;
	c.max_tx_rate = 10;
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL &&
		       strstr(why, "min-rate 11"),
	       "check: min above max: %s", why);
	c.max_tx_rate = 0;
	tap_eq(vfm_vf_config_check(&c, why, sizeof(why)), 0,
	       "check: min with no max limit");
	c = full();
	c.link_state = 3;
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL &&
		       strstr(why, "link-state 3"),
	       "check: link state 3: %s", why);
	c = full();
	c.have |= 1u << 7;
	tap_ok(vfm_vf_config_check(&c, why, sizeof(why)) == -EINVAL &&
		       strstr(why, "0x80"),
	       "check: unknown have bit: %s", why);
}

/* The layout of vfiomig-stream(5)'s VF config, pinned. */
static const uint8_t golden[VFM_VF_CONFIG_WIRE_SIZE] = {
	0x01, 0x00, 0x28, 0x00,			  /* version 1, length 40 */
	0x7f, 0x00, 0x00, 0x00,			  /* have: all */
	0x03, 0x00, 0x00, 0x00,			  /* vf 3 */
	0x02, 0x11, 0x22, 0x33, 0x44, 0x55,	  /* mac */
	0xff, 0x0f,				  /* vlan 4095 */
	0xa8, 0x88,				  /* proto 0x88a8 */
	0x07,					  /* qos */
	0x02,					  /* link state disable */
	0x05,					  /* spoofchk | rss_query */
	0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, /* min 10 */
	0xfe, 0xff, 0xff, 0xff,			  /* max */
	0x00, 0x00, 0x00, 0x00,
};

static void test_wire(void)
{
	uint8_t buf[VFM_VF_CONFIG_WIRE_SIZE + 8];
	struct vfm_vf_config c = full(), d;
	char why[VFM_NET_WHY_MAX];
	int r;

	r = vfm_vf_config_encode(&c, buf);
	tap_ok(r == VFM_VF_CONFIG_WIRE_SIZE && memcmp(buf, golden, sizeof(golden)) == 0,
	       "encode: golden bytes");
	r = vfm_vf_config_decode(golden, sizeof(golden), &d, why, sizeof(why));
	tap_ok(r == 0 && vfm_vf_config_equal(&c, &d) && d.vf == 3,
	       "decode: golden bytes (%d)", r);

	/* Every subset of settings survives the round trip, absent ones as zeros. */
	for (uint32_t have = 0; have <= VFM_VF_ALL; have++) {
		struct vfm_vf_config x = full();

		x.have = have;
		if (vfm_vf_config_encode(&x, buf) != VFM_VF_CONFIG_WIRE_SIZE ||
		    vfm_vf_config_decode(buf, VFM_VF_CONFIG_WIRE_SIZE, &d, why,
					 sizeof(why)) != 0 ||
		    !vfm_vf_config_equal(&x, &d)) {
			tap_ok(false, "round trip with have 0x%x", have);
			goto subsets_done;
		}
		if (!(have & VFM_VF_MAC) && memcmp(buf + 12, "\0\0\0\0\0\0", 6) != 0) {
			tap_ok(false, "absent MAC written as zeros (have 0x%x)", have);
			goto subsets_done;
		}
	}
	tap_ok(true, "round trip of all 128 subsets of settings");
subsets_done:
	c = full();
	c.vlan = 4096;
	tap_eq(vfm_vf_config_encode(&c, buf), -EINVAL,
	       "encode refuses what check refuses");

	memcpy(buf, golden, sizeof(golden));
	tap_eq(vfm_vf_config_decode(buf, 3, &d, why, sizeof(why)), -EBADMSG,
	       "decode: 3 bytes");
	tap_eq(vfm_vf_config_decode(buf, 39, &d, why, sizeof(why)), -EBADMSG,
	       "decode: 39 bytes (length field says 40)");
	buf[0] = 2;
	r = vfm_vf_config_decode(buf, 40, &d, why, sizeof(why));
	tap_ok(r == -EPROTONOSUPPORT && strstr(why, "version 2"), "decode: version 2: %s",
	       why);
	buf[0] = 1;
	buf[2] = 39;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: length field 39");
	/* A longer version 1 record (fields appended later) is read. */
	memcpy(buf, golden, sizeof(golden));
	memset(buf + 40, 0xee, 8);
	buf[2] = 48;
	tap_eq(vfm_vf_config_decode(buf, 48, &d, why, sizeof(why)), 0,
	       "decode: a 48-byte version 1 record (appended fields ignored)");
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: length field 48, 40 bytes given");
	memcpy(buf, golden, sizeof(golden));
	buf[5] = 0x01; /* have bit 8 */
	r = vfm_vf_config_decode(buf, 40, &d, why, sizeof(why));
	tap_ok(r == -EPROTONOSUPPORT && strstr(why, "would be lost"),
	       "decode: an unknown setting bit: %s", why);
	memcpy(buf, golden, sizeof(golden));
	buf[26] = 1;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: reserved byte 26");
	memcpy(buf, golden, sizeof(golden));
	buf[39] = 1;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: reserved byte 39");
	memcpy(buf, golden, sizeof(golden));
	buf[24] |= 0x08;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: unknown flag bit");
	memcpy(buf, golden, sizeof(golden));
	buf[4] &= (uint8_t)~VFM_VF_VLAN;
	r = vfm_vf_config_decode(buf, 40, &d, why, sizeof(why));
	tap_ok(r == -EBADMSG && strstr(why, "marked absent"),
	       "decode: a VLAN value with VLAN absent: %s", why);
	memcpy(buf, golden, sizeof(golden));
	buf[4] &= (uint8_t)~VFM_VF_TRUST;
	buf[24] |= 0x02;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: trust on with trust absent");
	memcpy(buf, golden, sizeof(golden));
	buf[19] = 0x10; /* vlan 4095 -> 0x10ff */
	r = vfm_vf_config_decode(buf, 40, &d, why, sizeof(why));
	tap_ok(r == -EBADMSG && strstr(why, "out of range"), "decode: vlan 4351: %s",
	       why);
	memcpy(buf, golden, sizeof(golden));
	buf[12] = 0x03;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: multicast MAC");
	memcpy(buf, golden, sizeof(golden));
	buf[23] = 3;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: link state 3");
	memcpy(buf, golden, sizeof(golden));
	buf[20] = 0x81;
	buf[21] = 0x00;
	tap_eq(vfm_vf_config_decode(buf, 40, &d, why, sizeof(why)), -EBADMSG,
	       "decode: VLAN protocol 0x8100 byte-swapped");
	tap_eq(vfm_vf_config_decode(buf, 0, &d, NULL, 0), -EBADMSG,
	       "decode: nothing, no why");
}

static void test_equal(void)
{
	struct vfm_vf_config a = full(), b = full();

	b.vf = 9;
	tap_ok(vfm_vf_config_equal(&a, &b), "equal ignores the VF index");
	b.have &= ~(uint32_t)VFM_VF_TRUST;
	tap_ok(!vfm_vf_config_equal(&a, &b), "equal compares have");
	b = full();
	b.max_tx_rate = 1;
	tap_ok(!vfm_vf_config_equal(&a, &b), "equal compares rates");
	a.vlan = b.vlan = 0;
	a.qos = b.qos = 0;
	a.vlan_proto = VFM_ETH_P_8021Q;
	b = a;
	b.vlan_proto = VFM_ETH_P_8021AD;
	tap_ok(vfm_vf_config_equal(&a, &b), "no VLAN is no VLAN, whatever the protocol");
	b.vlan = 5;
	tap_ok(!vfm_vf_config_equal(&a, &b), "VLAN ids compared");
}

static void test_nl_errno(void)
{
	static const struct {
		int nle, err;
	} t[] = {
		{0, 0},
		{42, 42},
		{-NLE_OPNOTSUPP, -EOPNOTSUPP},
		{-NLE_NOMEM, -ENOMEM},
		{-NLE_PERM, -EPERM},
		{-NLE_OBJ_NOTFOUND, -ENOENT},
		{-NLE_SEQ_MISMATCH, -EPROTO},
		{-NLE_MSG_TRUNC, -EBADMSG},
		{-NLE_NODEV, -ENODEV},
		{-NLE_BUSY, -EBUSY},
		{-NLE_INVAL, -EINVAL},
		{-NLE_RANGE, -ERANGE},
		{-NLE_DUMP_INTR, -EAGAIN},
		{-NLE_ATTRSIZE, -EBADMSG},
		{-NLE_FAILURE, -EIO},
		{-(NLE_MAX + 1), -EIO},
		{-1000, -EIO},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		tap_eq(vfm_nl_errno(t[i].nle), t[i].err, "vfm_nl_errno(%d)", t[i].nle);
}

/* xorshift32: deterministic, so a failure reproduces. */
static uint32_t rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* Random and mutated records: decode never reads past @size (ASan watches), and
 * whatever it accepts is canonical: encoding it again gives the same 40 bytes. */
static void test_decode_robust(void)
{
	uint32_t seed = 0x6e657431, accepted = 0, bad = 0;
	uint8_t enc[VFM_VF_CONFIG_WIRE_SIZE];

	for (int i = 0; i < 200000; i++) {
		size_t size = rnd(&seed) % 64;
		uint8_t *buf = malloc(size ? size : 1);
		struct vfm_vf_config d;

		if (i % 2) {
			/* a valid record with 1 to 3 bytes changed, sometimes cut */
			memcpy(buf, golden, MIN(size, sizeof(golden)));
			if (size > sizeof(golden))
				memset(buf + sizeof(golden), 0, size - sizeof(golden));
			for (uint32_t k = rnd(&seed) % 3 + 1; size && k; k--)
				buf[rnd(&seed) % size] ^=
					(uint8_t)(1u << (rnd(&seed) % 8));
		} else {
			for (size_t k = 0; k < size; k++)
				buf[k] = (uint8_t)rnd(&seed);
		}
		if (vfm_vf_config_decode(buf, size, &d, NULL, 0) == 0) {
			accepted++;
			if (size == VFM_VF_CONFIG_WIRE_SIZE &&
			    (vfm_vf_config_encode(&d, enc) != VFM_VF_CONFIG_WIRE_SIZE ||
			     memcmp(enc, buf, sizeof(enc)) != 0))
				bad++;
		}
		free(buf);
	}
	tap_ok(bad == 0 && accepted > 0,
	       "decode of 200000 random and mutated records: %u accepted, all canonical "
	       "(%u "
	       "not)",
	       accepted, bad);
}

int main(void)
{
	test_mac();
	test_names();
	test_check();
	test_wire();
	test_equal();
	test_nl_errno();
	test_decode_robust();
	return tap_done();
}
