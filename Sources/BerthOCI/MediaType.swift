/// The media types Berth reads and writes (OCI image-spec media-types.md, Docker schema2).
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    public static func isManifest(_ t: String?) -> Bool { t == ociManifest || t == dockerManifest }
    public static func isIndex(_ t: String?) -> Bool { t == ociIndex || t == dockerManifestList }
    public static func isLayer(_ t: String) -> Bool {
        t.hasPrefix("application/vnd.oci.image.layer.") || t.hasPrefix("application/vnd.docker.image.rootfs.")
    }
}
