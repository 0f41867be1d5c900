/*
 * tcpstate vocabulary: every enum, name and message of the engine comes from
 * the X-macro lists below, so the enums, the strings and the tables built
 * from them cannot drift apart.  Consumers (plugin, lab, tests) include this
 * file through tcpstate.h and use the generated enums and lookup functions.
 */
#ifndef TCPSTATE_DEFS_H
#define TCPSTATE_DEFS_H

/* Endpoint states: X(ID, "NAME").  Names are the kernel's / netstat's. */
#define TCPS_STATE_LIST(X)                                                     \
    X(UNKNOWN, "UNKNOWN")                                                      \
    X(LISTEN, "LISTEN")                                                        \
    X(SYN_SENT, "SYN_SENT")                                                    \
    X(SYN_RECV, "SYN_RECV")                                                    \
    X(ESTABLISHED, "ESTABLISHED")                                              \
    X(FIN_WAIT_1, "FIN_WAIT_1")                                                \
    X(FIN_WAIT_2, "FIN_WAIT_2")                                                \
    X(CLOSE_WAIT, "CLOSE_WAIT")                                                \
    X(CLOSING, "CLOSING")                                                      \
    X(LAST_ACK, "LAST_ACK")                                                    \
    X(TIME_WAIT, "TIME_WAIT")                                                  \
    X(CLOSED, "CLOSED")

/* Why an endpoint's state changed: X(ID, "text").  Every call of the one
 * state-changing function names one of these. */
#define TCPS_REASON_LIST(X)                                                    \
    X(NONE, "")                                                                \
    X(SENT_SYN, "sent SYN")                                                    \
    X(RECV_SYN, "received SYN")                                                \
    X(SENT_SYNACK, "sent SYN-ACK")                                             \
    X(RECV_SYNACK, "received SYN-ACK")                                         \
    X(RECV_ACK_OF_SYN, "received ACK of its SYN-ACK")                          \
    X(SENT_FIN, "sent FIN")                                                    \
    X(RECV_FIN, "received FIN")                                                \
    X(RECV_ACK_OF_FIN, "received ACK of its FIN")                              \
    X(RECV_FIN_ACK_OF_FIN, "received FIN that also ACKs its FIN")              \
    X(SENT_RST, "sent RST")                                                    \
    X(RECV_RST, "received RST")                                                \
    X(ACKED_PEER, "its ACK shows it processed the peer's segment")             \
    X(MIDSTREAM, "first seen mid-stream")                                      \
    X(NO_SOCKET, "answered with RST: no socket for this connection")           \
    X(SYN_GIVEUP, "SYN retries exhausted (silent)")                            \
    X(REQ_EXPIRED, "pending request expired (SYN-ACK retries exhausted)")      \
    X(ORPHAN_GIVEUP, "orphan FIN retries exhausted (silent)")                  \
    X(FIN_TIMEOUT, "FIN_WAIT_2 timer expired (tcp_fin_timeout)")               \
    X(TW_EXPIRED, "TIME_WAIT expired")                                         \
    X(TW_KILLED, "in-window RST ended TIME_WAIT")                              \
    X(NOT_RECEIVED, "revised: the segment was not received (retransmitted "   \
                    "without an ACK)")                                         \
    X(PORT_REUSE, "new connection on a reused 4-tuple")

/* Kinds of retransmission. */
#define TCPS_RTX_KIND_LIST(X)                                                  \
    X(NONE, "")                                                                \
    X(SYN, "SYN")                                                              \
    X(SYNACK, "SYN-ACK")                                                       \
    X(FIN, "FIN")                                                              \
    X(DATA, "data")                                                            \
    X(RST, "RST")

/* How a retransmission was scheduled. */
#define TCPS_SCHED_LIST(X)                                                     \
    X(NONE, "")                                                                \
    X(RTO, "RTO backoff")                                                      \
    X(LINEAR, "linear SYN timeout")                                            \
    X(TLP, "tail loss probe")                                                  \
    X(FAST, "fast retransmit (dup ACKs/SACK)")                                 \
    X(REPLY, "reply to a retransmitted SYN")                                   \
    X(UNKNOWN, "unclassified")

/* Cause of a RST, from context. */
#define TCPS_RST_CAUSE_LIST(X)                                                 \
    X(NONE, "")                                                                \
    X(REFUSED, "connection refused: RST in reply to SYN")                      \
    X(UNREAD_DATA, "abort: closed with unread data")                           \
    X(LINGER0, "abort: SO_LINGER 0 or application abort")                      \
    X(KEEPALIVE, "keepalive timeout: peer presumed dead")                      \
    X(DATA_TO_ORPHAN, "data arrived for an orphan socket after its FIN")       \
    X(CLOSED_SOCKET, "segment arrived for a closed socket")                    \
    X(AFTER_FW2, "segment after FIN_WAIT_2 expiry")                            \
    X(AFTER_TW, "segment after TIME_WAIT expiry")                              \
    X(AFTER_ORPHAN_GIVEUP, "segment after the orphan gave up its FIN")         \
    X(REQ_EXPIRED, "segment for an expired pending request")                   \
    X(TW_KILL, "in-window RST killing TIME_WAIT")                              \
    X(NO_SOCKET, "no socket for this segment")

/* Packet phase, from both endpoints' states. */
#define TCPS_PHASE_LIST(X)                                                     \
    X(UNKNOWN, "unknown")                                                      \
    X(HANDSHAKE, "handshake")                                                  \
    X(ESTABLISHED, "established")                                              \
    X(HALF_CLOSED, "half-closed")                                              \
    X(CLOSING, "closing")                                                      \
    X(TIME_WAIT, "time-wait")                                                  \
    X(CLOSED, "closed")                                                        \
    X(RESET, "reset")

/* How a connection ended. */
#define TCPS_CLOSE_LIST(X)                                                     \
    X(UNFINISHED, "unfinished")                                                \
    X(THREE_WAY, "3-packet close")                                             \
    X(FOUR_WAY, "4-packet close")                                              \
    X(SIMULTANEOUS, "simultaneous close")                                      \
    X(ABORT, "abort (RST)")                                                    \
    X(TIMEOUT, "timeout")                                                      \
    X(REFUSED, "refused")

/* Orphan verdict evidence. */
#define TCPS_ORPHAN_EV_LIST(X)                                                 \
    X(NONE, "")                                                                \
    X(RST_AFTER_FIN, "answered data after its FIN with RST")                   \
    X(FW2_TIMEOUT, "FIN_WAIT_2 timed out, later segment answered with RST")    \
    X(FIN_GIVEUP, "FIN retransmissions ran out")                               \
    X(ACKS_AFTER_FIN, "kept acknowledging data after its FIN")                 \
    X(SENT_AFTER_FIN, "sent nothing but kept the connection open")             \
    X(RST_TO_FIN, "its peer's FIN was answered with RST")

/* Zeek conn_state values. */
#define TCPS_CONN_STATE_LIST(X)                                                \
    X(OTH, "OTH")                                                              \
    X(S0, "S0")                                                                \
    X(S1, "S1")                                                                \
    X(SF, "SF")                                                                \
    X(REJ, "REJ")                                                              \
    X(S2, "S2")                                                                \
    X(S3, "S3")                                                                \
    X(RSTO, "RSTO")                                                            \
    X(RSTR, "RSTR")                                                            \
    X(RSTOS0, "RSTOS0")                                                        \
    X(RSTRH, "RSTRH")                                                          \
    X(SH, "SH")                                                                \
    X(SHR, "SHR")

/*
 * Expert events: X(ID, severity, "message template").  Severity is one of
 * CHAT, NOTE, WARN, ERROR (Wireshark's expert levels).  Placeholders are
 * filled by tcps_event_message() from the packet's result:
 *   {from} {to}        the sender / the receiver ("client" or "server")
 *   {side}             the endpoint the event is about
 *   {state}            that endpoint's state
 *   {secs}             seconds the endpoint has been in that state
 *   {index} {budget}   retransmission or probe index (a keepalive RST: the
 *                      probes that went unanswered), and the budget count
 *   {timer_index}      SYN-ACK: the request timer's retransmissions so far
 *   {budget_s}         the time budget in seconds
 *   {profile}          the stack profile's description
 *   {sched}            the retransmission schedule
 *   {cause}            the RST cause text
 */
#define TCPS_EVENT_LIST(X)                                                     \
    X(SYN_RETRANS, WARN,                                                       \
      "SYN retransmission {index} of {budget} ({profile}, {sched})")           \
    X(SYNACK_RETRANS, WARN,                                                    \
      "SYN-ACK retransmission {index} ({sched}); request timer "              \
      "{timer_index} of {budget} ({profile})")                                 \
    X(FIN_RETRANS, WARN, "FIN retransmission {index} ({sched})")               \
    X(ORPHAN_FIN_RETRANS, WARN,                                                \
      "FIN retransmissions of an orphan: budget ends about {budget_s} s "      \
      "after the first")                                                       \
    X(DATA_RETRANS, NOTE, "data retransmission {index} ({sched})")             \
    X(CLOSE_WAIT_LONG, WARN,                                                   \
      "{side} in CLOSE_WAIT for {secs} s: the application has not closed "    \
      "its socket")                                                            \
    X(KEEPALIVE, CHAT, "keepalive probe {index} after {secs} s idle")          \
    X(KEEPALIVE_DEAD, WARN,                                                    \
      "keepalive probe {index} unanswered: peer presumed dead")                \
    X(ZERO_WINDOW_PROBE, NOTE, "zero-window probe {index}")                    \
    X(RST, WARN, "RST: {cause}")                                               \
    X(PORT_REUSE_TW, NOTE, "new SYN reuses a 4-tuple in TIME_WAIT")            \
    X(PORT_REUSE, NOTE, "new SYN reuses the 4-tuple of an earlier connection") \
    X(TW_ACCEPT, NOTE,                                                         \
      "{from}'s ISN is its old snd_nxt + 65537: it accepted the SYN into its " \
      "TIME_WAIT")                                                             \
    X(NOT_RECEIVED, NOTE,                                                      \
      "{to} did not receive this segment (retransmitted without an ACK)")      \
    X(SILENT_DEATH, NOTE, "{side} left {state} without a packet: timer")       \
    X(MIDSTREAM, NOTE, "connection picked up mid-stream: roles guessed")       \
    X(HALF_CLOSE, CHAT, "half-close: {side} shut down its sending side")

#endif
