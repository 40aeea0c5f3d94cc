// SPDX-License-Identifier: GPL-2.0
/* lkd has no assembly, hence no offsets to export. */
#include <linux/kbuild.h>

int main(void)
{
	return 0;
}
