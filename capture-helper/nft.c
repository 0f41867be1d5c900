/*
 * Drop rules with libnftables, inside the lab's namespaces only.
 *
 * Each namespace gets its own nft context (its netlink socket belongs to the
 * namespace the thread is in when it is used, so every call enters that
 * namespace first).  Every rule lives in a base chain of its own in the
 * table "inet tcpstate_lab", so deleting a rule is deleting its chain.  The
 * command text is built from fixed templates (experiments.c) and numbers
 * only: no user input reaches nft.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "lab.h"

struct lab_nft {
    const lab_ns *ns;
    struct nft_ctx *ctx[2];
    int table[2];
};

static int run(lab_nft *f, int side, const char *cmd, char *err, size_t cap)
{
    if (lab_ns_enter(f->ns, side) != 0) {
        snprintf(err, cap, "cannot enter the %s namespace", LAB_SIDE_NAME(side));
        lab_ns_leave(f->ns);
        return -1;
    }
    int r = nft_run_cmd_from_buffer(f->ctx[side], cmd);
    lab_ns_leave(f->ns);
    if (r != 0) {
        const char *e = nft_ctx_get_error_buffer(f->ctx[side]);
        snprintf(err, cap, "nft: %s", e && *e ? e : "command failed");
        char *nl = strchr(err, '\n');
        if (nl)
            *nl = '\0';
        return -1;
    }
    return 0;
}

lab_nft *lab_nft_new(const lab_ns *n, char *err, size_t cap)
{
    lab_nft *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    f->ns = n;
    for (int side = 0; side < 2; side++) {
        if (lab_ns_enter(n, side) != 0) {
            lab_ns_leave(n);
            snprintf(err, cap, "cannot enter the %s namespace", LAB_SIDE_NAME(side));
            lab_nft_free(f);
            return NULL;
        }
        f->ctx[side] = nft_ctx_new(NFT_CTX_DEFAULT);
        lab_ns_leave(n);
        if (!f->ctx[side]) {
            snprintf(err, cap, "libnftables: cannot create a context");
            lab_nft_free(f);
            return NULL;
        }
        nft_ctx_buffer_output(f->ctx[side]);
        nft_ctx_buffer_error(f->ctx[side]);
    }
    return f;
}

int lab_nft_add(lab_nft *f, int id, int side, const char *hook, const char *match, char *err,
                size_t cap)
{
    char cmd[768];
    if (strcmp(hook, "input") != 0 && strcmp(hook, "output") != 0) {
        snprintf(err, cap, "unknown hook %s", hook);
        return -1;
    }
    snprintf(cmd, sizeof cmd,
             "add table inet tcpstate_lab\n"
             "add chain inet tcpstate_lab rule%d { type filter hook %s priority 0; policy accept; }\n"
             "add rule inet tcpstate_lab rule%d %s\n",
             id, hook, id, match);
    if (run(f, side, cmd, err, cap))
        return -1;
    f->table[side] = 1;
    return 0;
}

int lab_nft_del(lab_nft *f, int id, int side, char *err, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "flush chain inet tcpstate_lab rule%d\ndelete chain inet tcpstate_lab rule%d\n", id,
             id);
    return run(f, side, cmd, err, cap);
}

void lab_nft_free(lab_nft *f)
{
    if (!f)
        return;
    for (int side = 0; side < 2; side++) {
        if (f->ctx[side]) {
            char err[256];
            if (f->table[side])
                run(f, side, "delete table inet tcpstate_lab\n", err, sizeof err);
            nft_ctx_free(f->ctx[side]);
        }
    }
    free(f);
}
