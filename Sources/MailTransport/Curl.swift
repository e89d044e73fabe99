#if canImport(Glibc)
import Glibc
#endif
internal import CCurl

/// curl_global_init once per process, before the first handle (it is not thread-safe).
let curlReady: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

/// Collects the first option libcurl refuses, by name.
struct CurlOptionCheck {
    var failed: String? = nil

    mutating func require(_ rc: CURLcode, _ what: String) {
        if rc != CURLE_OK && failed == nil { failed = "\(what): \(String(cString: curl_easy_strerror(rc)))" }
    }

    /// What every mail protocol handle of ours has: only `protocols`, no signals, TLS 1.2 or
    /// later with the peer and its name verified (against `caFile` when given), STARTTLS
    /// required when asked for, and `timeout` seconds for connecting, each reply, and a
    /// transfer making no progress.
    mutating func common(_ h: UnsafeMutableRawPointer, protocols: String, requireSTARTTLS: Bool, caFile: String?,
                         timeout: Int, errorBuffer: UnsafeMutablePointer<CChar>) {
        require(wt_curl_set_string(h, CURLOPT_PROTOCOLS_STR, protocols), "protocols")
        require(wt_curl_set_long(h, CURLOPT_NOSIGNAL, 1), "no signals")
        require(wt_curl_set_long(h, CURLOPT_USE_SSL, Int(requireSTARTTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_NONE.rawValue)), "STARTTLS")
        require(wt_curl_set_long(h, CURLOPT_SSL_VERIFYPEER, 1), "peer verification")
        require(wt_curl_set_long(h, CURLOPT_SSL_VERIFYHOST, 2), "host name verification")
        require(wt_curl_set_long(h, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2), "TLS version")
        if let caFile { require(wt_curl_set_string(h, CURLOPT_CAINFO, caFile), "CA file") }
        require(wt_curl_set_long(h, CURLOPT_CONNECTTIMEOUT, timeout), "connect timeout")
        require(wt_curl_set_long(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, timeout), "response timeout")
        require(wt_curl_set_long(h, CURLOPT_LOW_SPEED_LIMIT, 1), "low speed limit")
        require(wt_curl_set_long(h, CURLOPT_LOW_SPEED_TIME, timeout), "low speed time")
        require(wt_curl_set_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer), "error buffer")
    }

    /// Frees the handle and throws if an option was refused.
    func finish(_ h: UnsafeMutableRawPointer) throws(TransportError) {
        if let failed {
            curl_easy_cleanup(h)
            throw TransportError(.temporary, "libcurl refused an option (\(failed))")
        }
    }
}

/// Connection and TLS failures, which read the same in every protocol; nil for the rest.
/// `curlText` is libcurl's own text, which never holds a password.
func curlConnectionError(_ rc: CURLcode, endpoint: String, host: String, protocolName: String, curlText: String,
                         timeout: Int) -> TransportError? {
    switch rc {
    case CURLE_PEER_FAILED_VERIFICATION:
        return TransportError(.temporary, "the certificate of \(endpoint) did not verify: \(printable(curlText, cap: 300)) (check the host name and the CA file)")
    case CURLE_SSL_CACERT_BADFILE:
        return TransportError(.temporary, "cannot use the CA file: \(printable(curlText, cap: 300))")
    case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND,
         CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
         CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_SHUTDOWN_FAILED:
        return TransportError(.temporary, "TLS with \(endpoint) failed: \(printable(curlText, cap: 300))")
    case CURLE_COULDNT_RESOLVE_HOST:
        return TransportError(.temporary, "cannot resolve the \(protocolName) host \(printable(host, cap: 100)): \(printable(curlText, cap: 200))")
    case CURLE_COULDNT_CONNECT:
        return TransportError(.temporary, "cannot connect to \(endpoint): \(printable(curlText, cap: 200))")
    case CURLE_OPERATION_TIMEDOUT:
        return TransportError(.temporary, "\(endpoint) did not answer within \(timeout) seconds (\(printable(curlText, cap: 200)))")
    default:
        return nil
    }
}
