#!/usr/bin/perl
# Writes a small GeoLite2-ASN-schema database: make_mmdb.pl OUT CIDR=ASN[,COUNTRY] ...
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift @ARGV;
my $tree = MaxMind::DB::Writer::Tree->new(
    database_type => 'GeoLite2-ASN',
    description => { en => 'otaswarm test ASN database' },
    ip_version => 6,
    record_size => 24,
    # Without this the writer silently drops loopback and private test prefixes.
    remove_reserved_networks => 0,
    map_key_type_callback => sub {
        my $k = shift;
        return {
            autonomous_system_number => 'uint32',
            autonomous_system_organization => 'utf8_string',
            country => 'map',
            iso_code => 'utf8_string',
        }->{$k};
    },
);
for my $arg (@ARGV) {
    my ($cidr, $rest) = split /=/, $arg;
    my ($asn, $cc) = split /,/, $rest;
    my $data = { autonomous_system_number => $asn + 0, autonomous_system_organization => "AS$asn test" };
    $data->{country} = { iso_code => $cc } if defined $cc;
    $tree->insert_network($cidr, $data);
}
open my $fh, '>:raw', $out or die "cannot write $out: $!";
$tree->write_tree($fh);
close $fh;
