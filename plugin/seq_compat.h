/*
 * The flow-graph (sequence analysis) API.
 *
 * Wireshark's headers declare it in epan/sequence_analysis.h, but neither
 * Debian 12's libwireshark-dev (4.0.17) nor Debian 13's (4.4.18) installs
 * that header, although libwireshark exports the functions.  For 4.0 and
 * 4.4 on 64-bit systems, this file declares the two functions and the
 * structures the plugin uses, with layouts read from those libraries'
 * machine code (x86-64):
 *   4.0.17 (libwireshark.so.16): sequence_analysis_create_sai_with_addresses()
 *     allocates 0x90 bytes per item; sequence_analysis_use_col_info_as_label_
 *     comment() stores frame_label at 0x48, comment at 0x58;
 *     sequence_analysis_dump_to_file() skips items whose 32-bit display at
 *     0x70 is 0; sequence_analysis_info_new() stores items at 0x10.
 *   4.4.18 (libwireshark.so.18): 0x88 bytes per item (bool has_color_filter
 *     and display at 0x6c/0x6d), frame_label 0x48, comment 0x58, display
 *     tested as a byte at 0x6d; items at 0x10.
 * The static assertions hold the declarations to those numbers.  Other
 * versions without the header get no flow graph (4.2 was not checked).
 */
#ifndef TCPSTATE_SEQ_COMPAT_H
#define TCPSTATE_SEQ_COMPAT_H

#include <stddef.h>
#include <epan/address.h>
#include <epan/packet_info.h>
#include <epan/tap.h>

#include "tcpstate_priv.h"

#if defined(__has_include)
#if __has_include(<epan/sequence_analysis.h>)
#include <epan/sequence_analysis.h>
#define TP_HAVE_SEQ_ANALYSIS 1
#endif
#endif

#if !defined(TP_HAVE_SEQ_ANALYSIS) && GLIB_SIZEOF_VOID_P == 8 && \
    ((TP_WS_VERSION >= 40000 && TP_WS_VERSION < 40100) ||                       \
     (TP_WS_VERSION >= 40400 && TP_WS_VERSION < 40500))

#define TP_HAVE_SEQ_ANALYSIS 1
#define TP_SEQ_COMPAT 1

#if TP_WS_VERSION >= 40400
typedef bool tp_seq_bool;   /* 4.4: C99 bool (1 byte) */
#else
typedef gboolean tp_seq_bool;
#endif

typedef struct _seq_analysis_item {
    guint32 frame_number;
    address src_addr;
    guint16 port_src;
    address dst_addr;
    guint16 port_dst;
    gchar *frame_label;      /* label on the arrow (g_malloc'd; freed by Wireshark) */
    gchar *time_str;
    gchar *comment;          /* text right of the graph (g_malloc'd) */
    guint16 conv_num;
    unsigned fg_color;
    unsigned bg_color;
    tp_seq_bool has_color_filter;
    tp_seq_bool display;     /* tshark prints only items with display set */
    guint src_node;
    guint dst_node;
    guint16 line_style;
    int info_type;
    gpointer info_ptr;
} seq_analysis_item_t;

typedef struct _seq_analysis_info {
    const char *name;
    tp_seq_bool any_addr;
    int nconv;
    GQueue *items;
    GHashTable *ht;
    address nodes[40];
    /* 4.0: guint8 num_nodes + padding; 4.4: guint8 occurrence[40], guint32 num_nodes */
} seq_analysis_info_t;

_Static_assert(offsetof(seq_analysis_item_t, frame_label) == 0x48, "seq item frame_label");
_Static_assert(offsetof(seq_analysis_item_t, comment) == 0x58, "seq item comment");
_Static_assert(offsetof(seq_analysis_info_t, items) == 0x10, "seq info items");
#if TP_WS_VERSION >= 40400
_Static_assert(sizeof(seq_analysis_item_t) == 0x88, "4.4 seq_analysis_item_t size");
_Static_assert(offsetof(seq_analysis_item_t, display) == 0x6d, "4.4 display");
#else
_Static_assert(sizeof(seq_analysis_item_t) == 0x90, "4.0 seq_analysis_item_t size");
_Static_assert(offsetof(seq_analysis_item_t, display) == 0x70, "4.0 display");
_Static_assert(offsetof(seq_analysis_item_t, line_style) == 0x7c, "4.0 line_style");
#endif

WS_DLL_PUBLIC void register_seq_analysis(const char *name, const char *ui_name, const int proto_id,
                                         const char *tap_listener, guint tap_flags,
                                         tap_packet_cb tap_func);
WS_DLL_PUBLIC seq_analysis_item_t *sequence_analysis_create_sai_with_addresses(packet_info *pinfo,
                                                                               seq_analysis_info_t *sainfo);
#endif

#ifndef TP_HAVE_SEQ_ANALYSIS
#define TP_HAVE_SEQ_ANALYSIS 0
#endif

#endif
