#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include "uapi/pnfsd.h"
struct msg { struct nlmsghdr n; struct genlmsghdr g; char buf[4096]; };
static void put32(struct msg *m, int t, unsigned v)
{ struct nlattr *a = (void *)((char *)m + NLMSG_ALIGN(m->n.nlmsg_len)); a->nla_type = t; a->nla_len = 8; memcpy(a + 1, &v, 4); m->n.nlmsg_len = NLMSG_ALIGN(m->n.nlmsg_len) + 8; }
static void init(struct msg *m, int type, int cmd) { memset(m, 0, sizeof(*m)); m->n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN); m->n.nlmsg_type = type; m->n.nlmsg_flags = NLM_F_REQUEST; m->g.cmd = cmd; }
int main(void)
{
	struct msg m, r; struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC), d = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
	bind(s, (void *)&sa, sizeof(sa)); bind(d, (void *)&sa, sizeof(sa));
	init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	{ struct nlattr *a = (void *)((char *)&m + m.n.nlmsg_len); a->nla_type = CTRL_ATTR_FAMILY_NAME; a->nla_len = 4 + 6; memcpy(a + 1, "pnfsd", 6); m.n.nlmsg_len += 12; }
	send(s, &m, m.n.nlmsg_len, 0); recv(s, &r, sizeof(r), 0);
	int fam = 0; { char *p = r.buf; int rem = r.n.nlmsg_len - 20; while (rem > 4) { struct nlattr *a = (void *)p; if (a->nla_type == CTRL_ATTR_FAMILY_ID) fam = *(unsigned short *)(a + 1); rem -= (a->nla_len + 3) & ~3; p += (a->nla_len + 3) & ~3; } }
	init(&m, fam, PNFSD_CMD_REGISTER); put32(&m, PNFSD_A_VERSION, 1); send(d, &m, m.n.nlmsg_len, 0);
	init(&m, fam, PNFSD_CMD_CONFIG_SET); put32(&m, PNFSD_A_TIMEOUT_MS, 600000); send(d, &m, m.n.nlmsg_len, 0);
	init(&m, fam, PNFSD_CMD_TRIGGER); put32(&m, PNFSD_A_UPCALL_KIND, 3); put32(&m, PNFSD_A_COUNT, 1000); put32(&m, PNFSD_A_DEPTH, 64);
	printf("silent: fam %d, triggering 1000 upcalls depth 64 with nobody answering\n", fam); fflush(stdout);
	send(s, &m, m.n.nlmsg_len, 0);
	int n = recv(s, &r, sizeof(r), 0);
	printf("silent: trigger returned type %d len %d (%s)\n", r.n.nlmsg_type, n, r.n.nlmsg_type == NLMSG_ERROR ? "error" : "reply");
	return 0;
}
