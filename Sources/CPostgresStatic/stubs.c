/*
 * wt-deliver-pg links libpq statically, with OpenSSL. Debian builds libpq with GSSAPI and
 * LDAP, which have no static libraries; these stand in for them, so that in this build a
 * GSSAPI login or an ldap:// service lookup fails with an error instead of the binary not
 * linking. libpq asks for GSSAPI credentials before trying GSS encryption; with none it goes
 * on with TLS or plain TCP, as it does on a host without a Kerberos ticket. Sites that log in
 * with GSSAPI use wt-deliver-net, which links the system's shared libpq.
 */
#include <stddef.h>
#include "wt_pq_static.h"

int wt_pq_static_build(void) { return 1; }

typedef unsigned int wt_om_uint32;
#define WT_GSS_S_FAILURE (13u << 16)
#define WT_GSS_STUB(name) wt_om_uint32 name(void) { return WT_GSS_S_FAILURE; }
WT_GSS_STUB(gss_acquire_cred)
WT_GSS_STUB(gss_delete_sec_context)
WT_GSS_STUB(gss_display_status)
WT_GSS_STUB(gss_import_name)
WT_GSS_STUB(gss_init_sec_context)
WT_GSS_STUB(gss_release_buffer)
WT_GSS_STUB(gss_release_cred)
WT_GSS_STUB(gss_release_name)
WT_GSS_STUB(gss_unwrap)
WT_GSS_STUB(gss_wrap)
WT_GSS_STUB(gss_wrap_size_limit)
void *GSS_C_NT_HOSTBASED_SERVICE = NULL;

#define WT_LDAP_STUB(name) int name(void) { return -1; }
WT_LDAP_STUB(ldap_count_entries)
WT_LDAP_STUB(ldap_first_entry)
WT_LDAP_STUB(ldap_get_values_len)
WT_LDAP_STUB(ldap_msgfree)
WT_LDAP_STUB(ldap_result)
WT_LDAP_STUB(ldap_search_st)
WT_LDAP_STUB(ldap_set_option)
WT_LDAP_STUB(ldap_simple_bind)
WT_LDAP_STUB(ldap_unbind)
WT_LDAP_STUB(ldap_value_free_len)
void *ldap_init(void) { return NULL; }
char *ldap_err2string(void) { return "LDAP is not in this build of wt"; }
