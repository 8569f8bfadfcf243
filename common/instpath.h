/* instpath.h - where an installed apf finds its shared files (docs/packaging.md). */
#ifndef APF_INSTPATH_H
#define APF_INSTPATH_H

/* The migrations folder of `apf-admin migrate`: conf sql_dir; else ./sql when it is a folder (a
 * source tree); else PREFIX/share/apf/sql of the running binary's PREFIX/bin. Borrowed. */
const char *inst_sql_dir(void);

#endif
