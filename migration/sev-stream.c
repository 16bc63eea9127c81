/*
 * The SEV records of the migration stream (docs/sev-migration.md):
 * SEV_PLATFORM (destination -> source), SEV_START (source -> destination)
 * and the data of one ENCRYPTED page entry.  Pure encoders and decoders:
 * every length comes from a peer, so each is checked against the fixed
 * SEV sizes before any pointer is formed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/sev-migration.h"

static void put_blob(struct mig_buf *out, const void *p, u32 len)
{
	u8 l[4];

	put_le32(l, len);
	mig_buf__put(out, l, 4);
	if (len)
		mig_buf__put(out, p, len);
}

/*
 * Take "le32 len, len bytes" at *off; the length must be one of
 * [min, max].  Leaves *off after it.
 */
static int take_blob(const u8 *buf, size_t len, size_t *off, u32 min, u32 max,
		     const u8 **p, u32 *plen)
{
	u32 l;

	if (len - *off < 4)
		return -EPROTO;
	l = get_le32(buf + *off);
	*off += 4;
	if (l < min || l > max || len - *off < l)
		return -EPROTO;
	*p = l ? buf + *off : NULL;
	*plen = l;
	*off += l;
	return 0;
}

int sev_mig_platform__encode(const struct sev_mig_platform *p, struct mig_buf *out)
{
	if (!p->pdh || !p->chain || p->amd_len > SEV_MIG_AMD_MAX || (p->amd_len && !p->amd))
		return -EINVAL;
	put_blob(out, p->pdh, SEV_CERT_SIZE);
	put_blob(out, p->chain, SEV_CHAIN_SIZE);
	put_blob(out, p->amd, p->amd_len);
	return out->err;
}

int sev_mig_platform__decode(const u8 *buf, size_t len, struct sev_mig_platform *p)
{
	size_t off = 0;
	u32 l;
	int ret;

	memset(p, 0, sizeof(*p));
	if (len > SEV_MIG_PLATFORM_MAX)
		return -EPROTO;
	ret = take_blob(buf, len, &off, SEV_CERT_SIZE, SEV_CERT_SIZE, &p->pdh, &l);
	if (!ret)
		ret = take_blob(buf, len, &off, SEV_CHAIN_SIZE, SEV_CHAIN_SIZE, &p->chain, &l);
	if (!ret)
		ret = take_blob(buf, len, &off, 0, SEV_MIG_AMD_MAX, &p->amd, &p->amd_len);
	if (!ret && off != len)
		ret = -EPROTO;		/* trailing bytes: not what we speak */
	if (ret)
		memset(p, 0, sizeof(*p));
	return ret;
}

int sev_mig_start__encode(const struct sev_mig_start *s, struct mig_buf *out)
{
	u8 l[4];

	if (!s->pdh || !s->session)
		return -EINVAL;
	put_le32(l, s->policy);
	mig_buf__put(out, l, 4);
	put_blob(out, s->pdh, SEV_CERT_SIZE);
	put_blob(out, s->session, SEV_SESSION_SIZE);
	return out->err;
}

int sev_mig_start__decode(const u8 *buf, size_t len, struct sev_mig_start *s)
{
	size_t off = 4;
	u32 l;
	int ret;

	memset(s, 0, sizeof(*s));
	if (len != SEV_MIG_START_SIZE)
		return -EPROTO;
	s->policy = get_le32(buf);
	ret = take_blob(buf, len, &off, SEV_CERT_SIZE, SEV_CERT_SIZE, &s->pdh, &l);
	if (!ret)
		ret = take_blob(buf, len, &off, SEV_SESSION_SIZE, SEV_SESSION_SIZE, &s->session, &l);
	if (!ret && off != len)
		ret = -EPROTO;
	if (ret)
		memset(s, 0, sizeof(*s));
	return ret;
}

int sev_mig_pkt__decode(const u8 *data, size_t len, const u8 **hdr, u32 *hdr_len,
			const u8 **trans)
{
	u32 l;

	if (len < 4)
		return -EPROTO;
	l = get_le32(data);
	if (l < MIG_ENC_HDR_MIN || l > MIG_ENC_HDR_MAX || len != sev_mig_pkt__len(l))
		return -EPROTO;
	*hdr = data + 4;
	*hdr_len = l;
	*trans = data + 4 + l;
	return 0;
}

void sev_mig__fault_from_env(struct sev_mig_fault *f)
{
	const char *s = getenv("LKVM_SEVMIG_FAULT");

	memset(f, 0, sizeof(*f));
	/* A comma-separated list; unknown words are ignored (test hooks only). */
	while (s && *s) {
		if (!strncmp(s, "flip-packet=", 12))
			f->flip_packet = strtoull(s + 12, NULL, 0);
		else if (!strncmp(s, "await-withdraw", 14) && (s[14] == ',' || !s[14]))
			f->await_withdraw = true;
		s = strchr(s, ',');
		if (s)
			s++;
	}
	s = getenv("LKVM_SEVMIG_PDH");
	if (s && *s)
		f->pdh_file = s;
}
