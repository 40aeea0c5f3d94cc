// SPDX-License-Identifier: GPL-2.0
/* The kernel console: log lines go to the host through hostops. */
#include <linux/console.h>
#include <linux/init.h>

#include "internal.h"

static void lkd_console_write(struct console *con, const char *s,
			      unsigned int len)
{
	lkd_host->console_write(s, len);
}

static struct console lkd_console = {
	.name	= "lkd",
	.write	= lkd_console_write,
	.flags	= CON_PRINTBUFFER | CON_ENABLED,
	.index	= -1,
};

void __init lkd_console_init(void)
{
	register_console(&lkd_console);
}
