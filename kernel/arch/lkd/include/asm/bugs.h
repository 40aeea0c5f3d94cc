/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_BUGS_H
#define _ASM_LKD_BUGS_H
static inline void check_bugs(void) { }
#endif
