#!/usr/bin/perl
# Fetch the Release file of the first "deb" source of the build environment's APT configuration.
# Succeeds only if the build has network access.
use strict;
use warnings;
use HTTP::Tiny;

my ($uri, $suite);
for my $file ('/etc/apt/sources.list', glob('/etc/apt/sources.list.d/*.list')) {
    open(my $fh, '<', $file) or next;
    while (<$fh>) {
        if (/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/) { ($uri, $suite) = ($1, $2); last; }
    }
    last if $uri;
}
die "network-probe: no deb source found\n" unless $uri;
my $response = HTTP::Tiny->new(timeout => 20)->get("$uri/dists/$suite/Release");
if ($response->{success}) {
    print "network-probe: reached the mirror (HTTP $response->{status})\n";
    exit 0;
}
print STDERR "network-probe: unreachable: $response->{status} $response->{reason}\n";
exit 1;
