/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MMIO: device windows registered with lkd_virtio_mmio_add() are reached
 * through host callbacks; any other address is ordinary memory.
 */
#ifndef _ASM_LKD_IO_H
#define _ASM_LKD_IO_H

#include <linux/types.h>

u64 lkd_iomem_read(const volatile void __iomem *addr, int size);
void lkd_iomem_write(volatile void __iomem *addr, u64 value, int size);

#define __raw_readb __raw_readb
static inline u8 __raw_readb(const volatile void __iomem *addr)
{
	return lkd_iomem_read(addr, 1);
}
#define __raw_readw __raw_readw
static inline u16 __raw_readw(const volatile void __iomem *addr)
{
	return lkd_iomem_read(addr, 2);
}
#define __raw_readl __raw_readl
static inline u32 __raw_readl(const volatile void __iomem *addr)
{
	return lkd_iomem_read(addr, 4);
}
#define __raw_readq __raw_readq
static inline u64 __raw_readq(const volatile void __iomem *addr)
{
	return lkd_iomem_read(addr, 8);
}
#define __raw_writeb __raw_writeb
static inline void __raw_writeb(u8 value, volatile void __iomem *addr)
{
	lkd_iomem_write(addr, value, 1);
}
#define __raw_writew __raw_writew
static inline void __raw_writew(u16 value, volatile void __iomem *addr)
{
	lkd_iomem_write(addr, value, 2);
}
#define __raw_writel __raw_writel
static inline void __raw_writel(u32 value, volatile void __iomem *addr)
{
	lkd_iomem_write(addr, value, 4);
}
#define __raw_writeq __raw_writeq
static inline void __raw_writeq(u64 value, volatile void __iomem *addr)
{
	lkd_iomem_write(addr, value, 8);
}

#include <asm-generic/io.h>

#endif
