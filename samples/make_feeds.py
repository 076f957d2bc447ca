#!/usr/bin/env python3
"""Writes the sample distributor feeds bundled with `catsync demo`.

Synthetic rows with the shapes real feeds have (see shared docs, distributor-feeds.md): four
distributors sharing twenty products, each feed in another dialect, each with a few rows that a
careful importer must reject or flag. Deterministic: rerunning writes identical files.
"""
import gzip
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "feeds")


def check_digit(data):
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return str((10 - total % 10) % 10)


def upc(n):
    data = f"{88590900000 + n * 1001:011d}"
    return data + check_digit(data)


PRODUCTS = [
    # brand, mpn, title, category, price
    ("Bosch", "GSR12V-300B22", "Bosch 12V Max Drill/Driver Kit", "Power Tools > Drills", "129.00"),
    ("Makita", "XFD131", "Makita 18V LXT Brushless Driver-Drill Kit", "Power Tools > Drills", "199.00"),
    ("DeWalt", "DCD771C2", "DEWALT 20V MAX Cordless Drill Combo Kit", "Power Tools > Drills", "99.00"),
    ("HP", "CF283A", "HP 83A Black Original LaserJet Toner Cartridge", "Printing > Toner", "79.89"),
    ("Brother", "TN-760", "Brother TN760 High Yield Toner", "Printing > Toner", "76.99"),
    ("Logitech", "910-005620", "Logitech MX Master 3S Wireless Mouse", "Computers > Mice", "99.99"),
    ("Samsung", "MZ-V8V1T0B/AM", "Samsung 980 1TB PCIe NVMe SSD", "Computers > Storage", "89.99"),
    ("Epson", "C11CJ67201", "Epson EcoTank ET-2800 Printer", "Printing > Printers", "199.99"),
    ("Canon", "5224C002", "Canon PIXMA TS6420a All-in-One Printer", "Printing > Printers", "99.00"),
    ("Philips", "9290024899", "Philips Hue White A19 LED Bulb 2-Pack", "Lighting > Smart Bulbs", "29.99"),
    ("Anker", "A2633", "Anker 633 Magnetic Battery 10000mAh", "Mobile > Power Banks", "59.99"),
    ("Seagate", "STKM4000400", "Seagate One Touch 4TB External Hard Drive", "Computers > Storage", "109.99"),
    ("Kingston", "SDCS2/64GB", "Kingston Canvas Select Plus 64GB microSD", "Computers > Memory Cards", "9.99"),
    ("TP-Link", "Archer AX55", "TP-Link Archer AX55 AX3000 Wi-Fi 6 Router", "Networking > Routers", "79.99"),
    ("Netgear", "GS308", "NETGEAR 8-Port Gigabit Ethernet Switch", "Networking > Switches", "21.99"),
    ("Sony", "WH1000XM5/B", "Sony WH-1000XM5 Noise Canceling Headphones", "Audio > Headphones", "399.99"),
    ("JBL", "JBLFLIP6BLKAM", "JBL Flip 6 Portable Bluetooth Speaker", "Audio > Speakers", "129.95"),
    ("Dell", "P2422H", "Dell 24 Monitor P2422H", "Computers > Monitors", "219.99"),
    ("Lenovo", "GX30M39704", "Lenovo 300 USB Mouse", "Computers > Mice", "12.99"),
    ("Western Digital", "WDBU6Y0040BBK-WESN", "WD 4TB Elements Portable Hard Drive", "Computers > Storage", "104.99"),
]


def rows(offset, price_factor):
    for i, (brand, mpn, title, cat, price) in enumerate(PRODUCTS):
        yield i, brand, mpn, title, cat, f"{float(price) * price_factor:.2f}", upc(740000 + i * 7 + offset * 0)


def write(name, text, encoding="utf-8", newline="\n"):
    path = os.path.join(OUT, name)
    data = text.replace("\n", newline).encode(encoding)
    with open(path, "wb") as f:
        f.write(data)


def acme():
    """US distributor: comma, UTF-8, quoted titles with commas, an Excel-mangled UPC, a CALL price."""
    lines = ['Item #,UPC,Mfr Part Number,Manufacturer,Product Name,Dealer Price,Qty,Category,Last Modified']
    for i, brand, mpn, title, cat, price, gtin in rows(0, 0.92):
        if i == 3:
            gtin = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)  # wrong check digit: kept with a warning
        if i == 5:
            gtin = "7.4E+11"  # a spreadsheet turned the UPC into a number: stored without a GTIN
        if i == 8:
            price = "CALL"  # not a price: rejected
        title_q = f'"{title}, {brand}"' if i % 4 == 0 else title
        lines.append(f"ACM-{1000 + i},{gtin},{mpn},{brand},{title_q},${price},{(i * 7) % 40},\"{cat}\",2026-11-{20 + i % 7:02d} 08:{i:02d}:00")
    write("acme_us_comma_utf8.csv", "\n".join(lines) + "\n")


def nordhandel():
    """German distributor: semicolons, Windows-1252, decimal commas, dd.mm.yyyy, German headers."""
    lines = ["Artikelnummer;EAN;Herstellernummer;Hersteller;Bezeichnung;EK;VK;Bestand;Warengruppe;Geändert"]
    for i, brand, mpn, title, cat, price, gtin in rows(0, 0.95):
        if i % 2:
            continue
        ek = f"{float(price) * 0.8:.2f}".replace(".", ",")
        vk = f"{float(price) * 1.0:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        gtin13 = "0" + gtin  # the same UPC written as EAN-13
        title_de = title.replace("Kit", "Set").replace("Printer", "Drucker") + " – Zubehör inklusive"
        lines.append(f"NH-{5000 + i};{gtin13};{mpn};{brand.upper()};{title_de};{ek};{vk};{i % 5};{cat.split(' > ')[0]};{20 + i % 8:02d}.11.2026")
    lines.append("NH-5999;;;;Versandkostenpauschale;4,90;;;;")
    write("nordhandel_de_semicolon_cp1252.csv", "\n".join(lines) + "\n", encoding="cp1252", newline="\r\n")


def pacific():
    """Excel "Unicode Text" export: UTF-16LE with BOM, tabs, CRLF."""
    lines = ["SKU\tGTIN\tMPN\tBrand\tTitle\tUnit Price\tStock\tColour"]
    for i, brand, mpn, title, cat, price, gtin in rows(0, 1.03):
        if i % 3 == 2:
            continue
        gtin14 = "00" + gtin
        brand = "Hewlett-Packard" if brand == "HP" else brand
        lines.append(f"PAC{i:04d}\t{gtin14}\t{mpn.replace('-', '')}\t{brand}\t{title}\t{price}\t{-2 if i == 4 else i * 3}\t{'Black' if i % 2 else 'Silver'}")
    write("pacific_tab_utf16le.txt", "\ufeff" + "\n".join(lines) + "\n", encoding="utf-16-le", newline="\r\n")


def summit():
    """Pipe-delimited, gzipped, with a duplicated SKU (the later row wins) and a row without SKU."""
    lines = ["part_num|upc|manu_part|vendor|descr|price|qty_avail"]
    for i, brand, mpn, title, cat, price, gtin in rows(0, 0.98):
        if i % 4 == 1:
            continue
        lines.append(f"SUM-{i:03d}|{gtin}|{mpn}#ABA|{brand}|{title}|{price}|{i * 11}")
    lines.append(f"SUM-000|{upc(740000)}|{PRODUCTS[0][1]}|Bosch|{PRODUCTS[0][2]} (price update)|124.50|9")
    lines.append("|012345678905|X1|NoName|Row without SKU|1.00|1")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with open(os.path.join(OUT, "summit_pipe.csv.gz"), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(data)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    acme()
    nordhandel()
    pacific()
    summit()
