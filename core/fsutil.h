/* Small file-system helpers shared by the environment cache and the VM
 * store. */
#ifndef PYRO_FSUTIL_H
#define PYRO_FSUTIL_H

/* rm -rf PATH, never following symlinks or crossing into another mount
 * (a bind mount inside a tree must not lose its contents). 0 when nothing
 * is left (a missing path counts), -1 with errno otherwise. */
int fs_remove_tree(const char *path);

#endif
