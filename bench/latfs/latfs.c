/*
 * latfs: a read-only passthrough FUSE file system that adds a fixed latency to every
 * metadata operation: a stand-in for a Lustre/NFS metadata server on a local tree.
 *
 *   latfs --source=DIR --delay-us=N [--max-threads=N] [-f] [-o FUSE_OPTIONS] MOUNTPOINT
 *
 * lookup, getattr, opendir, readdir and open each sleep N microseconds before doing the
 * real work; data (read) and release are not delayed. Every reply says that nothing may be
 * cached (entry, attribute and negative timeouts 0, the low-level API's equivalent of
 * -o attr_timeout=0,entry_timeout=0,negative_timeout=0), so each stat a client makes reaches
 * this server. Requests are served by a pool of up to --max-threads threads (default 64),
 * so concurrent clients overlap their waits as they would against a metadata server.
 *
 * At exit the server prints how many delayed operations of each kind it served (stderr):
 *   latfs ops: lookup=N getattr=N opendir=N readdir=N open=N
 *
 * Shape of libfuse's example/passthrough_ll.c (low-level API), with two differences: an inode
 * keeps its path under the source, not an O_PATH descriptor (the kernel holds every inode a
 * crawl looked up, 101,011 for T1, more than the descriptors a process may have here), and
 * the inodes are in a hash table, not a list. No write operation.
 * Build: gcc -O2 -Wall latfs.c $(pkg-config --cflags --libs fuse3) -o latfs
 * Unmount: fusermount3 -u MOUNTPOINT (the server then exits).
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

struct lo_inode {
	struct lo_inode *next; /* hash chain */
	char *path;            /* relative to the source ("." for the root) */
	ino_t ino;
	dev_t dev;
	uint64_t nlookup;      /* under table_lock */
};

#define BUCKETS (1u << 18)

static struct lo_inode root;
static int source_fd; /* O_PATH */
static struct lo_inode **table;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static long delay_ns;

enum op { OP_LOOKUP, OP_GETATTR, OP_OPENDIR, OP_READDIR, OP_OPEN, OPS };
static const char *op_names[OPS] = { "lookup", "getattr", "opendir", "readdir", "open" };
static unsigned long op_count[OPS];

static void delay(enum op op)
{
	static __thread int slack_set;
	struct timespec ts;

	__atomic_fetch_add(&op_count[op], 1, __ATOMIC_RELAXED);
	if (delay_ns <= 0)
		return;
	if (!slack_set) {
		/* the default 50 us timer slack would lengthen every sleep */
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
		slack_set = 1;
	}
	ts.tv_sec = delay_ns / 1000000000L;
	ts.tv_nsec = delay_ns % 1000000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static struct lo_inode *lo_inode(fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &root;
	return (struct lo_inode *)(uintptr_t)ino;
}

static const char *lo_path(fuse_ino_t ino)
{
	return lo_inode(ino)->path;
}

static unsigned bucket(ino_t ino, dev_t dev)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;
	return (unsigned)(h >> 40) & (BUCKETS - 1);
}

static void lo_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* plain readdir: entries are looked up one by one, as on a metadata server */
	conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
}

static void lo_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	(void)fi;

	delay(OP_GETATTR);
	if (fstatat(source_fd, lo_path(ino), &st, AT_SYMLINK_NOFOLLOW) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	fuse_reply_attr(req, &st, 0.0);
}

static void lo_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct lo_inode *inode, *found;
	const char *dir = lo_path(parent);
	char *path;
	unsigned b;
	int err;

	delay(OP_LOOKUP);
	memset(&e, 0, sizeof(e));
	e.attr_timeout = 0.0;
	e.entry_timeout = 0.0;
	if (parent == FUSE_ROOT_ID)
		path = strdup(name);
	else if (asprintf(&path, "%s/%s", dir, name) == -1)
		path = NULL;
	if (!path) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fstatat(source_fd, path, &e.attr, AT_SYMLINK_NOFOLLOW) == -1) {
		err = errno;
		free(path);
		if (err == ENOENT)
			fuse_reply_entry(req, &e); /* a negative entry, cached for 0 s */
		else
			fuse_reply_err(req, err);
		return;
	}
	b = bucket(e.attr.st_ino, e.attr.st_dev);
	pthread_mutex_lock(&table_lock);
	for (found = table[b]; found; found = found->next)
		if (found->ino == e.attr.st_ino && found->dev == e.attr.st_dev)
			break;
	if (found) {
		found->nlookup++;
		inode = found;
	} else {
		inode = calloc(1, sizeof(*inode));
		if (!inode) {
			pthread_mutex_unlock(&table_lock);
			free(path);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		inode->path = path;
		inode->ino = e.attr.st_ino;
		inode->dev = e.attr.st_dev;
		inode->nlookup = 1;
		inode->next = table[b];
		table[b] = inode;
	}
	pthread_mutex_unlock(&table_lock);
	if (found)
		free(path); /* a hard link: the inode keeps the path it was first found by */
	e.ino = (uintptr_t)inode;
	fuse_reply_entry(req, &e);
}

static void forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	struct lo_inode *inode = lo_inode(ino), **link;

	if (inode == &root)
		return;
	pthread_mutex_lock(&table_lock);
	if (inode->nlookup > nlookup) {
		inode->nlookup -= nlookup;
		pthread_mutex_unlock(&table_lock);
		return;
	}
	for (link = &table[bucket(inode->ino, inode->dev)]; *link; link = &(*link)->next)
		if (*link == inode) {
			*link = inode->next;
			break;
		}
	pthread_mutex_unlock(&table_lock);
	free(inode->path);
	free(inode);
}

static void lo_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void lo_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void lo_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(source_fd, lo_path(ino), buf, sizeof(buf));

	if (n == -1)
		fuse_reply_err(req, errno);
	else if (n == sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = 0;
		fuse_reply_readlink(req, buf);
	}
}

struct lo_dir {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

static void lo_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lo_dir *d;
	int fd, err;

	delay(OP_OPENDIR);
	fd = openat(source_fd, lo_path(ino), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->dp = fdopendir(fd))) {
		err = d ? errno : ENOMEM;
		free(d);
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void lo_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		       struct fuse_file_info *fi)
{
	struct lo_dir *d = (struct lo_dir *)(uintptr_t)fi->fh;
	char *buf, *p;
	size_t rem = size;
	int err = 0;
	(void)ino;

	delay(OP_READDIR);
	buf = calloc(1, size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		struct stat st;
		size_t used;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		memset(&st, 0, sizeof(st));
		st.st_ino = d->entry->d_ino;
		st.st_mode = d->entry->d_type << 12;
		used = fuse_add_direntry(req, p, rem, d->entry->d_name, &st, d->entry->d_off);
		if (used > rem)
			break; /* full: this entry goes first in the next call */
		p += used;
		rem -= used;
		d->offset = d->entry->d_off;
		d->entry = NULL;
	}
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void lo_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lo_dir *d = (struct lo_dir *)(uintptr_t)fi->fh;
	(void)ino;

	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void lo_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd;

	delay(OP_OPEN);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fd = openat(source_fd, lo_path(ino), O_RDONLY | O_NOFOLLOW);
	if (fd == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = fd;
	fuse_reply_open(req, fi);
}

static void lo_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close(fi->fh);
	fuse_reply_err(req, 0);
}

static void lo_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	(void)ino;

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fi->fh;
	buf.buf[0].pos = offset;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void lo_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	if (fstatvfs(source_fd, &st) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops lo_ops = {
	.init = lo_init,
	.lookup = lo_lookup,
	.forget = lo_forget,
	.forget_multi = lo_forget_multi,
	.getattr = lo_getattr,
	.readlink = lo_readlink,
	.opendir = lo_opendir,
	.readdir = lo_readdir,
	.releasedir = lo_releasedir,
	.open = lo_open,
	.read = lo_read,
	.release = lo_release,
	.statfs = lo_statfs,
};

static void usage(const char *prog)
{
	printf("usage: %s --source=DIR --delay-us=N [--max-threads=N] [-f] [-o OPTIONS] "
	       "MOUNTPOINT\n\n", prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts opts;
	struct fuse_loop_config *config;
	struct fuse_session *se;
	const char *source = NULL;
	long delay_us = -1, max_threads = 64;
	struct stat st;
	int i, ret = 1;

	/* our own options first; the rest is libfuse's command line */
	for (i = 0; i < argc; i++) {
		if (i && !strncmp(argv[i], "--source=", 9))
			source = argv[i] + 9;
		else if (i && !strncmp(argv[i], "--delay-us=", 11))
			delay_us = strtol(argv[i] + 11, NULL, 10);
		else if (i && !strncmp(argv[i], "--max-threads=", 14))
			max_threads = strtol(argv[i] + 14, NULL, 10);
		else if (fuse_opt_add_arg(&args, argv[i]) == -1)
			return 1;
	}
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_help || !source || delay_us < 0 || max_threads < 1 || !opts.mountpoint) {
		usage(argv[0]);
		ret = opts.show_help ? 0 : 1;
		goto out_args;
	}
	delay_ns = delay_us * 1000L;
	table = calloc(BUCKETS, sizeof(*table));
	source_fd = open(source, O_PATH | O_DIRECTORY);
	root.path = ".";
	if (!table || source_fd == -1 || fstat(source_fd, &st) == -1) {
		fprintf(stderr, "latfs: cannot open %s: %s\n", source, strerror(errno));
		goto out_args;
	}
	root.ino = st.st_ino;
	root.dev = st.st_dev;
	root.nlookup = 2;

	se = fuse_session_new(&args, &lo_ops, sizeof(lo_ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(opts.foreground);
	if (opts.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		config = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(config, opts.clone_fd);
		fuse_loop_cfg_set_max_threads(config, (unsigned)max_threads);
		fuse_loop_cfg_set_idle_threads(config, (unsigned)max_threads);
		ret = fuse_session_loop_mt(se, config);
		fuse_loop_cfg_destroy(config);
	}
	fuse_session_unmount(se);
	fprintf(stderr, "latfs ops:");
	for (i = 0; i < OPS; i++)
		fprintf(stderr, " %s=%lu", op_names[i], op_count[i]);
	fprintf(stderr, "\n");
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
