/*
 * plugin.c: the symbols Wireshark looks for in an epan plugin.
 */
#include <glib.h>
#include <gmodule.h>
#include <ws_symbol_export.h>
#include <epan/proto.h>

#include "tcpstate_priv.h"

#if TP_WS_VERSION >= 40200
#include <wsutil/plugins.h>
#endif

void proto_register_tcpstate(void);
void proto_reg_handoff_tcpstate(void);

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = TCPS_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);
#if TP_WS_VERSION >= 40200
WS_DLL_PUBLIC uint32_t plugin_describe(void);
#endif

void plugin_register(void)
{
    static proto_plugin plug;
    plug.register_protoinfo = proto_register_tcpstate;
    plug.register_handoff = proto_reg_handoff_tcpstate;
    proto_register_plugin(&plug);
}

#if TP_WS_VERSION >= 40200
uint32_t plugin_describe(void) { return WS_PLUGIN_DESC_DISSECTOR | WS_PLUGIN_DESC_TAP_LISTENER; }
#endif
