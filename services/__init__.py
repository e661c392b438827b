"""paas.services"""
