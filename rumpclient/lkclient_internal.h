/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What lkclient.cc takes from lkclient_wait.c beyond the public API. Not
 * exported from liblkclient.so (lkclient.lds exports lk_* only).
 */
#ifndef LKD_RUMPCLIENT_LKCLIENT_INTERNAL_H
#define LKD_RUMPCLIENT_LKCLIENT_INTERNAL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Whether some signal that can interrupt a wait (not a fault signal) has a
 * handler installed; if all_restart is not NULL, whether every such
 * handler asked for SA_RESTART. One sigaction() per signal. */
int lkclient_signal_handlers(int *all_restart);

#ifdef __cplusplus
}
#endif

#endif /* LKD_RUMPCLIENT_LKCLIENT_INTERNAL_H */
