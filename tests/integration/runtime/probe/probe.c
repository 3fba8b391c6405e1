/* The in-container probe: prints one JSON object describing what the container really got.
 * Built with `gcc -static` at test time by build.py (cached); run as the container command.
 * Only libc; reads /proc and /sys from inside, tries a few things that must be refused. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int first = 1;
static void key(const char *k) { printf("%s\"%s\":", first ? "" : ",", k); first = 0; }
static void str(const char *s) {
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if (*s == '\n') printf("\\n");
        else if (*s == '\t') printf("\\t");
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}
static void kv_str(const char *k, const char *v) { key(k); if (v) str(v); else printf("null"); }
static void kv_int(const char *k, long long v) { key(k); printf("%lld", v); }

static char *slurp(const char *path) {
    static char buf[1 << 16];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    ssize_t n, total = 0;
    while ((n = read(fd, buf + total, sizeof(buf) - 1 - total)) > 0) total += n;
    close(fd);
    if (n < 0) return NULL;
    buf[total] = 0;
    return strdup(buf);
}
static char *trim(char *s) { if (!s) return s; size_t n = strlen(s); while (n && (s[n-1] == '\n' || s[n-1] == ' ')) s[--n] = 0; return s; }

static void status_field(const char *name) {
    char *st = slurp("/proc/self/status");
    char want[64]; snprintf(want, sizeof want, "\n%s:", name);
    char *p = st ? strstr(st, want) : NULL;
    key(name);
    if (!p) { printf("null"); return; }
    p += strlen(want); while (*p == ' ' || *p == '\t') p++;
    char *e = strchr(p, '\n'); if (e) *e = 0;
    str(p);
    free(st);
}

int main(int argc, char **argv) {
    char host[256] = "";
    gethostname(host, sizeof host);
    printf("{");
    kv_str("hostname", host);
    char dom[256] = ""; getdomainname(dom, sizeof dom); kv_str("domainname", dom);
    kv_int("pid", getpid()); kv_int("uid", getuid()); kv_int("gid", getgid());
    kv_int("euid", geteuid());
    gid_t groups[64]; int ng = getgroups(64, groups);
    key("groups"); printf("[");
    for (int i = 0; i < ng; i++) printf("%s%d", i ? "," : "", groups[i]);
    printf("]");
    const char *fields[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "SigIgn", "SigBlk", "SigCgt", NULL};
    for (int i = 0; fields[i]; i++) status_field(fields[i]);
    char cwd[4096] = ""; if (getcwd(cwd, sizeof cwd)) kv_str("cwd", cwd);
    /* unshare -U must be denied by Docker's seccomp profile without CAP_SYS_ADMIN. */
    pid_t child = fork();
    if (child == 0) _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : (errno & 0x7f));
    int wst = 0; waitpid(child, &wst, 0);
    kv_int("unshare_user_errno", WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
    /* Open fds. */
    key("fds"); printf("[");
    DIR *d = opendir("/proc/self/fd"); struct dirent *de; int n = 0; int dfd = d ? dirfd(d) : -1;
    while (d && (de = readdir(d))) { if (de->d_name[0] == '.') continue; int fd = atoi(de->d_name); if (fd == dfd) continue; printf("%s%d", n++ ? "," : "", fd); }
    if (d) closedir(d);
    printf("]");
    kv_str("mountinfo", slurp("/proc/self/mountinfo"));
    /* Masked paths: readable but empty (tmpfs/ /dev/null), or unreadable. */
    const char *masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware", "/proc/acpi", NULL};
    key("masked"); printf("{");
    for (int i = 0; masked[i]; i++) {
        struct stat sb; long long size = -1;
        if (stat(masked[i], &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) { DIR *m = opendir(masked[i]); size = 0; if (m) { while ((de = readdir(m))) if (de->d_name[0] != '.') size++; closedir(m); } }
            else { char *c = slurp(masked[i]); size = c ? (long long)strlen(c) : -2; free(c); }
        }
        printf("%s\"%s\":%lld", i ? "," : "", masked[i], size);
    }
    printf("}");
    struct statvfs vfs;
    kv_int("sys_readonly", statvfs("/sys", &vfs) == 0 ? !!(vfs.f_flag & ST_RDONLY) : -1);
    kv_int("proc_sys_readonly", statvfs("/proc/sys", &vfs) == 0 ? !!(vfs.f_flag & ST_RDONLY) : -1);
    kv_int("root_readonly", statvfs("/", &vfs) == 0 ? !!(vfs.f_flag & ST_RDONLY) : -1);
    int w = open("/proc/sysrq-trigger", O_WRONLY); kv_int("sysrq_writable", w >= 0); if (w >= 0) close(w);
    /* cgroup limits as seen inside (v1 layout, then v2). */
    kv_str("memory_limit", trim(slurp("/sys/fs/cgroup/memory/memory.limit_in_bytes")));
    kv_str("pids_max", trim(slurp("/sys/fs/cgroup/pids/pids.max")));
    kv_str("cpu_quota", trim(slurp("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")));
    kv_str("memory_max_v2", trim(slurp("/sys/fs/cgroup/memory.max")));
    kv_str("proc_cgroup", slurp("/proc/self/cgroup"));
    key("interfaces"); printf("[");
    struct if_nameindex *ifs = if_nameindex(), *it;
    for (n = 0, it = ifs; it && it->if_name; it++) printf("%s\"%s\"", n++ ? "," : "", it->if_name);
    if (ifs) if_freenameindex(ifs);
    printf("]");
    /* Processes visible. */
    key("pids_visible"); printf("[");
    d = opendir("/proc"); n = 0;
    while (d && (de = readdir(d))) if (de->d_name[0] >= '1' && de->d_name[0] <= '9') printf("%s%s", n++ ? "," : "", de->d_name);
    if (d) closedir(d);
    printf("]");
    kv_str("hosts", slurp("/etc/hosts"));
    kv_str("resolv_conf", slurp("/etc/resolv.conf"));
    kv_str("etc_hostname", slurp("/etc/hostname"));
    key("env"); printf("[");
    extern char **environ;
    for (int i = 0; environ[i]; i++) { if (i) putchar(','); str(environ[i]); }
    printf("]");
    char *nofile = NULL; { char *l = slurp("/proc/self/limits"); nofile = l; }
    kv_str("limits", nofile);
    key("devices"); printf("[");
    d = opendir("/dev"); n = 0;
    while (d && (de = readdir(d))) if (de->d_name[0] != '.') { printf("%s", n++ ? "," : ""); str(de->d_name); }
    if (d) closedir(d);
    printf("]");
    printf("}\n");
    return 0;
}
