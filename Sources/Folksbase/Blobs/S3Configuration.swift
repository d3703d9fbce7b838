import CurlClient
import Foundation

/// Where an S3 blob store sends requests and the credentials it signs them with.
///
/// Printing it never shows the secret access key or the session token.
public struct S3Configuration: Sendable {
    /// `http(s)://host[:port]` of an S3-compatible server; nil for AWS (`https://s3.<region>.amazonaws.com`).
    public var endpoint: String?
    public var region: String
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Addresses buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`; what most
    /// S3-compatible servers need.
    public var pathStyle: Bool

    /// - Parameter pathStyle: by default path style exactly when there is a custom `endpoint`.
    public init(
        endpoint: String? = nil, region: String = "us-east-1", accessKeyID: String, secretAccessKey: String,
        sessionToken: String? = nil, pathStyle: Bool? = nil
    ) {
        self.endpoint = endpoint
        self.region = region
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.pathStyle = pathStyle ?? (endpoint != nil)
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`; default `us-east-1`) and `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`).
    /// Empty variables count as unset.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> S3Configuration {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        func required(_ name: String) throws -> String {
            guard let value = value(name) else {
                throw FolksbaseError(
                    .invalidInput, "\(name) is not set; S3 blobs need AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            }
            return value
        }
        let endpointVariable = value("AWS_ENDPOINT_URL_S3") != nil ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL"
        let configuration = S3Configuration(
            endpoint: value(endpointVariable),
            region: value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1",
            accessKeyID: try required("AWS_ACCESS_KEY_ID"), secretAccessKey: try required("AWS_SECRET_ACCESS_KEY"),
            sessionToken: value("AWS_SESSION_TOKEN"))
        do {
            _ = try configuration.resolvedEndpoint()
        } catch let error as FolksbaseError {
            let regionVariable = value("AWS_REGION") != nil ? "AWS_REGION" : "AWS_DEFAULT_REGION"
            let variable = configuration.endpoint == nil ? regionVariable : endpointVariable
            throw FolksbaseError(.invalidInput, "\(variable): \(error.message)")
        }
        return configuration
    }

    /// The endpoint's scheme and `host[:port]`, checked.
    func resolvedEndpoint() throws -> (scheme: String, host: String) {
        guard let endpoint else {
            guard !region.isEmpty, region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") })
            else {
                throw FolksbaseError(.invalidInput, "the AWS region \"\(region)\" is not a region name like us-east-1")
            }
            return ("https", "s3.\(region).amazonaws.com")
        }
        let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        let parts = trimmed.components(separatedBy: "://")
        let scheme = parts[0].lowercased()
        let host = parts.count == 2 ? parts[1] : ""
        guard scheme == "http" || scheme == "https", !host.isEmpty, !host.contains(where: { "/?#@ ".contains($0) })
        else {
            throw FolksbaseError(
                .invalidInput,
                "the S3 endpoint \(URLRedaction.redact(endpoint)) must be http(s)://host[:port], without a path")
        }
        return (scheme, host)
    }

    var signer: AWSSignatureV4 {
        AWSSignatureV4(
            accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken, region: region)
    }

    /// `text` with the secret and the session token, should they appear, masked.
    func redacting(_ text: String) -> String {
        var text = text
        for secret in [secretAccessKey, sessionToken ?? ""] where !secret.isEmpty {
            text = text.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return text
    }
}

extension S3Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "S3Configuration(endpoint: \(endpoint.map(URLRedaction.redact) ?? "AWS"), region: \(region), "
            + "accessKeyID: \(Self.masked(accessKeyID)), secretAccessKey: <redacted>, "
            + "sessionToken: \(sessionToken == nil ? "none" : "<redacted>"), pathStyle: \(pathStyle))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "endpoint": endpoint.map(URLRedaction.redact) as Any, "region": region,
                "accessKeyID": Self.masked(accessKeyID), "secretAccessKey": "<redacted>",
                "sessionToken": sessionToken == nil ? "none" : "<redacted>", "pathStyle": pathStyle,
            ])
    }

    /// The last four characters, as `aws configure list` shows a key ID.
    private static func masked(_ keyID: String) -> String {
        keyID.count <= 4 ? String(repeating: "*", count: keyID.count) : "****" + keyID.suffix(4)
    }
}
