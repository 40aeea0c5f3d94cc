/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_ELF_H
#define _ASM_LKD_ELF_H

/* lkd loads no ELF binaries; these describe the host for /proc. */
#define elf_check_arch(x)	(0)
#define ELF_CLASS		ELFCLASS64
#define ELF_DATA		ELFDATA2LSB
#define ELF_ARCH		EM_NONE
#define ELF_EXEC_PAGESIZE	4096
#define ELF_HWCAP		(0)
#define ELF_PLATFORM		(NULL)
#define ELF_ET_DYN_BASE		(0)
#define ELF_NGREG		1
typedef unsigned long elf_greg_t;
typedef elf_greg_t elf_gregset_t[ELF_NGREG];
typedef struct { } elf_fpregset_t;
#endif
