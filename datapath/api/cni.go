package api

// CNIAttach is the body of POST /v1/cni/add, /v1/cni/del and
// /v1/cni/check: one CNI attachment, a container's interface on a
// network, as the ebpfnet-cni plugin passes it on.
type CNIAttach struct {
	ContainerID string `json:"container_id"`
	// Name is the container's name, when the runtime passes one
	// (CNI_ARGS K8S_POD_NAME, as Podman does): the endpoint's name if
	// no endpoint has it, else the container id is.
	Name    string `json:"name,omitempty"`
	Netns   string `json:"netns,omitempty"` // may be empty on DEL
	Ifname  string `json:"ifname"`
	Network string `json:"network"`
	// IP and MAC come from the ips and mac capabilities (or args).
	IP           string           `json:"ip,omitempty"`
	MAC          string           `json:"mac,omitempty"`
	PortMappings []CNIPortMapping `json:"port_mappings,omitempty"`
	// DNS comes from the dns capability: the endpoint's upstream
	// servers, search domains and options. Aliases from the aliases
	// capability's entry for Network.
	DNS     DNSConf  `json:"dns,omitzero"`
	Aliases []string `json:"aliases,omitempty"`
}

// CNIPortMapping is one entry of the portMappings capability.
type CNIPortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"` // tcp when empty
	HostIP        string `json:"hostIP,omitempty"`
}

// CNIResult is what ADD and CHECK answer: the attachment as the plugin
// turns it into a CNI result.
type CNIResult struct {
	Endpoint string `json:"endpoint"`
	Ifname   string `json:"ifname"`
	MAC      string `json:"mac"`
	Sandbox  string `json:"sandbox"`
	Address  string `json:"address"` // CIDR: the address with its subnet's length
	Gateway  string `json:"gateway"`
	// Default: this interface carries the container's default route.
	Default bool `json:"default"`
	MTU     int  `json:"mtu"`
	// DNS is the result's dns: the nameserver the endpoint's resolv.conf
	// should name (127.0.0.11, as Docker's), and its search and options.
	DNS CNIDNS `json:"dns"`
}

// CNIDNS is a CNI result's dns.
type CNIDNS struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// CNIGC is the body of POST /v1/cni/gc: the attachments a runtime still
// has on a network (cni.dev/valid-attachments); ebpfnet's others on it
// go.
type CNIGC struct {
	Network string          `json:"network"`
	Valid   []CNIAttachment `json:"valid"`
}

// CNIAttachment names an attachment.
type CNIAttachment struct {
	ContainerID string `json:"containerID"`
	Ifname      string `json:"ifname"`
}

// CNIGCReport is what a GC removed, as container-id/ifname.
type CNIGCReport struct {
	Removed []string `json:"removed"`
}
