/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_ASM_LKD_BYTEORDER_H
#define _UAPI_ASM_LKD_BYTEORDER_H
/* lkd runs on little-endian 64-bit hosts (x86_64, arm64). */
#include <linux/byteorder/little_endian.h>
#endif
