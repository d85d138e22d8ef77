// Stand-ins for the GSSAPI (Kerberos) functions that Debian's static libzmq.a refers to.
//
// Debian builds libzmq with its GSSAPI security mechanism, but ships no static libgssapi_krb5, so a static
// libzmq would drag the whole MIT Kerberos stack in as shared libraries that a pip user's machine need not
// have. autowu never selects the GSSAPI mechanism (it uses NULL or CURVE), and libzmq only calls these
// functions after a socket sets ZMQ_GSSAPI_SERVER or ZMQ_GSSAPI_PLAINTEXT/PRINCIPAL. scripts/build-wheel links
// this file into the wheel's binaries only; every call fails with GSS_S_FAILURE, so a peer that asks for
// GSSAPI is refused during the handshake instead of being half-served.
#include <stddef.h>
#include <stdint.h>

typedef uint32_t OM_uint32;
typedef struct { OM_uint32 length; void *elements; } gss_OID_desc;
typedef gss_OID_desc *gss_OID;

#define GSS_S_FAILURE ((OM_uint32)13 << 16)

static gss_OID_desc autowu_no_gssapi_oid = {0, NULL};
gss_OID GSS_C_NT_USER_NAME = &autowu_no_gssapi_oid;
gss_OID GSS_C_NT_HOSTBASED_SERVICE = &autowu_no_gssapi_oid;

#define AUTOWU_NO_GSSAPI(name) \
    OM_uint32 name(OM_uint32 *minor_status, ...) { \
        if (minor_status != NULL) *minor_status = 0; \
        return GSS_S_FAILURE; \
    }

AUTOWU_NO_GSSAPI(gss_accept_sec_context)
AUTOWU_NO_GSSAPI(gss_acquire_cred)
AUTOWU_NO_GSSAPI(gss_delete_sec_context)
AUTOWU_NO_GSSAPI(gss_display_name)
AUTOWU_NO_GSSAPI(gss_import_name)
AUTOWU_NO_GSSAPI(gss_init_sec_context)
AUTOWU_NO_GSSAPI(gss_release_buffer)
AUTOWU_NO_GSSAPI(gss_release_cred)
AUTOWU_NO_GSSAPI(gss_release_name)
AUTOWU_NO_GSSAPI(gss_unwrap)
AUTOWU_NO_GSSAPI(gss_wrap)
