/* Peer for the wt parse benchmark: parse an mbox with GMime 3 doing the same
 * work as `wt-deliver --explain --mbox`: structure, decoded Subject and From,
 * and full transfer-decoding of every leaf part (message/rfc822 included).
 *
 * cc -O2 -o gmime-parse gmime-parse.c $(pkg-config --cflags --libs gmime-3.0)
 */
#include <gmime/gmime.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long n_messages, n_parts, n_leaves, n_header_bytes;
static GMimeStream *sink;

static void walk(GMimeObject *obj);

static void visit_message(GMimeMessage *msg)
{
    const char *subject = g_mime_message_get_subject(msg);  /* RFC 2047-decoded */
    char *from = internet_address_list_to_string(g_mime_message_get_from(msg), NULL, FALSE);
    /* Count bytes so the compiler can't drop the work. */
    n_header_bytes += (subject ? strlen(subject) : 0) + (from ? strlen(from) : 0);
    g_free(from);
    if (g_mime_message_get_mime_part(msg))
        walk(g_mime_message_get_mime_part(msg));
}

static void walk(GMimeObject *obj)
{
    n_parts++;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++)
            walk(g_mime_multipart_get_part(mp, i));
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (inner)
            visit_message(inner);
    } else if (GMIME_IS_PART(obj)) {
        GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(obj));
        n_leaves++;
        if (content)  /* write_to_stream applies the Content-Transfer-Encoding decoder */
            g_mime_data_wrapper_write_to_stream(content, sink);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MBOX\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    g_mime_init();
    /* glibc dlopen()s a gconv module on every iconv_open() and unloads it on the
     * last iconv_close(), so GMime's per-header conversions would mostly time the
     * dynamic loader (~2x slower on headers.mbox). Holding one descriptor per
     * charset used by gen_mbox.py keeps the modules resident, as in any
     * long-running process. Set GMIME_PARSE_NO_PIN=1 to see the unpinned cost. */
    const char *no_pin = getenv("GMIME_PARSE_NO_PIN");
    if (!no_pin || !*no_pin) {
        static const char *pinned[] = { "iso-8859-1", "windows-1252", "iso-2022-jp", "gb2312" };
        for (size_t i = 0; i < G_N_ELEMENTS(pinned); i++)
            g_mime_iconv_open("UTF-8", pinned[i]);  /* deliberately never closed */
    }
    sink = g_mime_stream_null_new();
    GMimeStream *in = g_mime_stream_fs_new(fd);
    GMimeParser *parser = g_mime_parser_new_with_stream(in);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MBOX);

    while (!g_mime_parser_eos(parser)) {
        GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
        if (!msg)
            break;
        n_messages++;
        visit_message(msg);
        g_object_unref(msg);
    }

    printf("messages=%lu parts=%lu leaves=%lu decoded_bytes=%zu header_bytes=%lu\n",
           n_messages, n_parts, n_leaves, GMIME_STREAM_NULL(sink)->written, n_header_bytes);
    g_object_unref(parser);
    g_object_unref(in);
    g_object_unref(sink);
    g_mime_shutdown();
    return 0;
}
