/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where lkd's session socket is when nobody says otherwise: the one place
 * for the daemon's --listen default, the session server's socket path and
 * the clients' LKD_SERVER default.
 */
#ifndef LKD_SCHEMA_LKD_DEFAULTS_H
#define LKD_SCHEMA_LKD_DEFAULTS_H

#define LKD_DEFAULT_SOCKET_PATH "/run/lkd/lkd.sock"
#define LKD_DEFAULT_SERVER "unix://" LKD_DEFAULT_SOCKET_PATH

#endif /* LKD_SCHEMA_LKD_DEFAULTS_H */
