/*
 * modelfile.c - read-only mmap of model files, format sniffing for helpful
 * "this is not a GGUF / safetensors file" messages, and printable copies of
 * untrusted names. See modelfile.h for the invariants.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
#include "model/modelfile.h"

static const uint8_t g_empty[1];

kvlm_status kvlm_map_file(const char *path, kvlm_mapped_file *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kvlm_fail(KVLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kvlm_fail(KVLM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kvlm_fail(KVLM_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return kvlm_fail(KVLM_ERR_IO, "%s: file size %lld not mappable", path,
                         (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        out->base = g_empty;
        return KVLM_OK;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return kvlm_fail(KVLM_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, size, strerror(e));
    out->base = p;
    out->size = size;
    out->map = p;
    return KVLM_OK;
}

void kvlm_unmap_file(kvlm_mapped_file *m)
{
    if (m && m->map)
        munmap(m->map, m->size);
    if (m)
        memset(m, 0, sizeof *m);
}

static int starts(const uint8_t *buf, size_t size, const char *lit, size_t n)
{
    return size >= n && memcmp(buf, lit, n) == 0;
}

const char *kvlm_sniff_format(const uint8_t *buf, size_t size)
{
    if (size == 0)
        return "an empty file";
    if (starts(buf, size, "GGUF", 4))
        return "a GGUF file";
    if (starts(buf, size, "PK\x03\x04", 4) || starts(buf, size, "PK\x05\x06", 4))
        return "a zip archive (a PyTorch .bin/.pt checkpoint?), not safetensors or GGUF";
    if (size >= 2 && buf[0] == 0x80 && buf[1] >= 2 && buf[1] <= 5)
        return "a PyTorch pickle file (legacy torch.save format), not safetensors or GGUF";
    if (starts(buf, size, "lmgg", 4) || starts(buf, size, "fmgg", 4) ||
        starts(buf, size, "tjgg", 4) || starts(buf, size, "ggml", 4) ||
        starts(buf, size, "ggjt", 4))
        return "a legacy GGML/GGJT file (convert it to GGUF)";
    if (starts(buf, size, "version https://git-lfs", 23))
        return "a Git LFS pointer file, not the model data (run 'git lfs pull')";
    if (starts(buf, size, "<!DOCTYPE", 9) || starts(buf, size, "<html", 5) ||
        starts(buf, size, "<!doctype", 9))
        return "an HTML page (a failed download?)";
    if (size >= 9) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = (n << 8) | buf[i];
        if (buf[8] == '{' && n >= 2 && n <= 100000000u && n <= size - 8)
            return "a safetensors file";
    }
    return NULL;
}

char *kvlm_printable(char *dst, size_t n, const char *s, size_t len)
{
    if (n == 0)
        return dst;
    size_t keep = len, room = n - 1;
    int cut = 0;
    if (keep > room) {
        keep = room > 3 ? room - 3 : room;
        cut = 1;
    }
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    size_t o = keep;
    if (cut && room > 3)
        for (int i = 0; i < 3; i++)
            dst[o++] = '.';
    dst[o] = 0;
    return dst;
}
