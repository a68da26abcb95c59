package sshconf

type kind int

const (
	many   kind = iota // one or more arguments
	single             // exactly one
	multi              // none or more
)

// Multi are the keywords whose every line adds a value; for the others the
// first value wins.
var Multi = map[string]bool{
	"identityfile": true, "certificatefile": true, "localforward": true, "remoteforward": true,
	"dynamicforward": true, "sendenv": true, "setenv": true,
}

// keywords are the ssh_config keywords of OpenSSH 9.x (ssh_config(5)).
var keywords = map[string]kind{
	"host": multi, "match": multi, "include": many,
	"addkeystoagent": single, "addressfamily": single, "batchmode": single, "bindaddress": single,
	"bindinterface": single, "canonicaldomains": many, "canonicalizefallbacklocal": single,
	"canonicalizehostname": single, "canonicalizemaxdots": single, "canonicalizepermittedcnames": many,
	"casignaturealgorithms": single, "certificatefile": single, "channeltimeout": many,
	"checkhostip": single, "ciphers": single, "clearallforwardings": single, "compression": single,
	"connectionattempts": single, "connecttimeout": single, "controlmaster": single, "controlpath": single,
	"controlpersist": single, "dynamicforward": single, "enableescapecommandline": single,
	"enablesshkeysign": single, "escapechar": single, "exitonforwardfailure": single,
	"fingerprinthash": single, "forkafterauthentication": single, "forwardagent": single,
	"forwardx11": single, "forwardx11timeout": single, "forwardx11trusted": single,
	"gatewayports": single, "globalknownhostsfile": many, "gssapiauthentication": single,
	"gssapidelegatecredentials": single, "gssapikeyexchange": single, "gssapiclientidentity": single,
	"gssapiserveridentity": single, "gssapirenewalforcesrekey": single, "gssapitrustdns": single,
	"gssapikexalgorithms": single, "hashknownhosts": single, "hostbasedacceptedalgorithms": single,
	"hostbasedkeytypes": single, "hostbasedauthentication": single, "hostkeyalgorithms": single,
	"hostkeyalias": single, "hostname": single, "identitiesonly": single, "identityagent": single,
	"identityfile": single, "ignoreunknown": single, "ipqos": many, "kbdinteractiveauthentication": single,
	"kbdinteractivedevices": single, "challengeresponseauthentication": single,
	"kexalgorithms": single, "knownhostscommand": many, "localcommand": many, "localforward": many,
	"loglevel": single, "logverbose": single, "macs": single, "nohostauthenticationforlocalhost": single,
	"numberofpasswordprompts": single, "obscurekeystroketiming": single, "passwordauthentication": single,
	"permitlocalcommand": single, "permitremoteopen": many, "pkcs11provider": single, "port": single,
	"preferredauthentications": single, "proxycommand": many, "proxyjump": single,
	"proxyusefdpass": single, "pubkeyacceptedalgorithms": single, "pubkeyacceptedkeytypes": single,
	"pubkeyauthentication": single, "rekeylimit": many, "remotecommand": many, "remoteforward": many,
	"requesttty": single, "requiredrsasize": single, "revokedhostkeys": single,
	"securitykeyprovider": single, "sendenv": many, "serveralivecountmax": single,
	"serveraliveinterval": single, "sessiontype": single, "setenv": many, "stdinnull": single,
	"streamlocalbindmask": single, "streamlocalbindunlink": single, "stricthostkeychecking": single,
	"syslogfacility": single, "tag": single, "tcpkeepalive": single, "tunnel": single,
	"tunneldevice": single, "updatehostkeys": single, "user": single, "userknownhostsfile": many,
	"verifyhostkeydns": single, "visualhostkey": single, "xauthlocation": single,
	"useroaming": multi, "usersh": multi, "fallbacktorsh": multi, "protocol": single,
	"cipher": single, "rhostsrsaauthentication": single, "rsaauthentication": single,
	"compressionlevel": single, "usekeychain": single, "warnweakcrypto": single, "refuseconnection": many,
	"versionaddendum": many, "sessiontypes": single,
}

// Unhonoured are the keywords that change whom a connection reaches or how it
// is authenticated or verified, which grifork's own SSH does not implement: a
// value that applies to a host is worth a warning. The value given is the one
// that changes nothing (no warning for it).
var Unhonoured = map[string]string{
	"hostkeyalias": "", "canonicalizehostname": "no", "bindaddress": "", "bindinterface": "",
	"addressfamily": "any", "preferredauthentications": "", "pubkeyauthentication": "yes",
	"hostbasedauthentication": "no", "pkcs11provider": "none", "securitykeyprovider": "internal",
	"knownhostscommand": "none", "revokedhostkeys": "none", "verifyhostkeydns": "no",
	"remotecommand": "none", "proxyusefdpass": "no", "ciphers": "", "kexalgorithms": "",
	"macs": "", "pubkeyacceptedalgorithms": "", "pubkeyacceptedkeytypes": "", "casignaturealgorithms": "",
	"requiredrsasize": "", "tunnel": "no", "refuseconnection": "",
}
